// The benchmark harness: `npm run bench [-- --quick] [-- --only <prefix>]`.
// Discovers src/scenarios/*.ts, runs subject, baseline and peers alternately for several rounds,
// reports median and spread, ratios and goals, writes docs/bench-results/<date>.json and
// latest.json (merged with earlier results of scenarios not run this time) and regenerates
// docs/benchmarks.md with a table and an SVG chart of the ratios.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Measurement, RunOptions, Scenario } from './scenario.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..');

export interface Stats {
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
  /** (max - min) / median, as a fraction. */
  spread: number;
  runs: number[];
}

export interface RunnerResult extends Stats {
  extra?: Record<string, number>;
}

export interface ScenarioResult {
  name: string;
  file: string;
  issue: number;
  unit: string;
  date: string;
  quick: boolean;
  rounds: number;
  subject?: RunnerResult;
  baseline?: RunnerResult;
  peers: Record<string, RunnerResult>;
  /** subject / baseline on medians. */
  ratio?: number;
  /** subject / peer on medians. */
  peerRatios: Record<string, number>;
  goal?: {
    text: string;
    pass: boolean;
    value: number;
    ratioAtLeast?: number;
    absoluteAtLeast?: number;
    peer?: string;
  };
  error?: string;
}

export interface Machine {
  cores: number;
  cpu: string;
  node: string;
  platform: string;
  memGb: number;
  date: string;
}

export interface BenchReport {
  machine: Machine;
  results: ScenarioResult[];
}

export interface BenchOptions {
  scenariosDir?: string;
  /** Where benchmarks.md, benchmarks-ratios.svg and bench-results/ go (default docs/). */
  docsDir?: string;
  quick?: boolean;
  only?: string[];
  rounds?: number;
  /** Longest a single setup/runner/teardown call may take (default 120 s, 30 s with quick). */
  timeoutMs?: number;
  write?: boolean;
  log?: (line: string) => void;
}

export function machine(): Machine {
  const c = cpus();
  return {
    cores: c.length,
    cpu: (c[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(),
    node: process.version,
    platform: `${platform()}-${arch()}`,
    memGb: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 1) return sorted[0]!;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const min = sorted[0]!;
  const max = sorted.at(-1)!;
  return {
    median,
    min,
    max,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    spread: median > 0 ? (max - min) / median : 0,
    runs: values,
  };
}

function checkMeasurement(who: string, m: Measurement): number {
  if (!m || !(m.ops > 0) || !(m.seconds > 0) || !Number.isFinite(m.ops / m.seconds)) {
    throw new Error(`${who} returned ${JSON.stringify(m)}; need ops > 0 and seconds > 0`);
  }
  return m.ops / m.seconds;
}

async function loadScenarios(dir: string): Promise<{ file: string; scenario: Scenario }[]> {
  const files = readdirSync(dir)
    .filter((f) => /\.(ts|mts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'))
    .sort();
  const out: { file: string; scenario: Scenario }[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as {
      scenario?: Scenario;
      scenarios?: Scenario[];
    };
    const list = mod.scenarios ?? (mod.scenario ? [mod.scenario] : []);
    if (list.length === 0) throw new Error(`${file} exports no \`scenario\``);
    for (const scenario of list) out.push({ file, scenario });
  }
  return out;
}

function selected(name: string, file: string, only: string[] | undefined): boolean {
  if (!only || only.length === 0) return true;
  return only.some((p) => name.startsWith(p) || basename(file).startsWith(p));
}

/** Rejects when `p` takes longer than `ms`: a hung runner becomes an error for its scenario. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function runScenario(
  file: string,
  s: Scenario,
  rounds: number,
  quick: boolean,
  timeoutMs: number,
): Promise<ScenarioResult> {
  const opts: RunOptions = { quick };
  const result: ScenarioResult = {
    name: s.name,
    file,
    issue: s.issue,
    unit: s.unit,
    date: new Date().toISOString(),
    quick,
    rounds,
    peers: {},
    peerRatios: {},
  };
  const runners: [string, NonNullable<Scenario['baseline']>][] = [['subject', s.subject]];
  if (s.baseline) runners.push(['baseline', s.baseline]);
  for (const [name, r] of Object.entries(s.peers ?? {})) runners.push([`peer:${name}`, r]);
  const rates = new Map<string, number[]>(runners.map(([n]) => [n, []]));
  const extras = new Map<string, Record<string, number[]>>();
  let state: unknown;
  try {
    state = s.setup ? await withTimeout(s.setup(opts), timeoutMs, `${s.name} setup`) : undefined;
    // One untimed pass each to warm the JIT and caches (skipped in quick mode).
    if (!quick)
      for (const [name, r] of runners) await withTimeout(r(state, opts), timeoutMs, `${s.name} ${name}`);
    for (let round = 0; round < rounds; round++) {
      // Rotate the order every round so no runner always goes first (or always after a GC-heavy one).
      for (let k = 0; k < runners.length; k++) {
        const [name, r] = runners[(k + round) % runners.length]!;
        const m = await withTimeout(r(state, opts), timeoutMs, `${s.name} ${name}`);
        rates.get(name)!.push(checkMeasurement(`${s.name} ${name}`, m));
        for (const [key, v] of Object.entries(m.extra ?? {})) {
          const e = extras.get(name) ?? {};
          (e[key] ??= []).push(v);
          extras.set(name, e);
        }
      }
    }
  } catch (err) {
    result.error =
      err instanceof Error ? (err.stack ?? err.message).split('\n').slice(0, 3).join(' | ') : String(err);
  } finally {
    if (s.teardown && state !== undefined) {
      try {
        await withTimeout(s.teardown(state), timeoutMs, `${s.name} teardown`);
      } catch (err) {
        result.error ??= `teardown: ${(err as Error).message}`;
      }
    }
  }
  if (result.error) return result;
  const summarize = (name: string): RunnerResult => {
    const st: RunnerResult = stats(rates.get(name)!);
    const e = extras.get(name);
    if (e) st.extra = Object.fromEntries(Object.entries(e).map(([k, v]) => [k, stats(v).median]));
    return st;
  };
  result.subject = summarize('subject');
  if (s.baseline) {
    result.baseline = summarize('baseline');
    result.ratio = result.subject.median / result.baseline.median;
  }
  for (const name of Object.keys(s.peers ?? {})) {
    result.peers[name] = summarize(`peer:${name}`);
    result.peerRatios[name] = result.subject.median / result.peers[name]!.median;
  }
  if (s.goal) {
    if (s.goal.absoluteAtLeast !== undefined) {
      result.goal = {
        text: s.goal.text,
        value: result.subject.median,
        pass: result.subject.median >= s.goal.absoluteAtLeast,
        absoluteAtLeast: s.goal.absoluteAtLeast,
      };
    } else if (s.goal.ratioAtLeast !== undefined) {
      const value = s.goal.peer ? result.peerRatios[s.goal.peer] : result.ratio;
      result.goal = {
        text: s.goal.text,
        value: value ?? Number.NaN,
        pass: value !== undefined && value >= s.goal.ratioAtLeast,
        ratioAtLeast: s.goal.ratioAtLeast,
        ...(s.goal.peer ? { peer: s.goal.peer } : {}),
      };
    }
  }
  return result;
}

// ---------- formatting ----------

export function fmtRate(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${(v / 1e9).toFixed(2)} G`;
  if (abs >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (abs >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(abs >= 100 ? 0 : 2);
}

const fmtRatio = (r: number | undefined) =>
  r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(r >= 10 ? 1 : 2)}×`;
const fmtSpread = (s: Stats | undefined) => (s ? `±${Math.round((s.spread * 100) / 2)}%` : '');

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A small hand-written horizontal bar chart of subject/baseline and subject/peer ratios, log scale. */
export function ratioChart(results: ScenarioResult[]): string {
  const bars: { label: string; ratio: number; goal?: number; pass?: boolean }[] = [];
  for (const r of [...results].sort((a, b) => a.name.localeCompare(b.name))) {
    if (r.error) continue;
    const g = r.goal?.ratioAtLeast !== undefined ? r.goal : undefined;
    if (r.ratio !== undefined) {
      const mine = g !== undefined && !g.peer;
      bars.push({
        label: `${r.name} / baseline`,
        ratio: r.ratio,
        goal: mine ? g.ratioAtLeast : undefined,
        pass: mine ? g.pass : undefined,
      });
    }
    for (const [peer, ratio] of Object.entries(r.peerRatios)) {
      const mine = g?.peer === peer;
      bars.push({
        label: `${r.name} / ${peer}`,
        ratio,
        goal: mine ? g!.ratioAtLeast : undefined,
        pass: mine ? g!.pass : undefined,
      });
    }
  }
  const width = 780;
  const labelW = 340;
  const barH = 16;
  const gap = 6;
  const top = 40;
  const plotW = width - labelW - 60;
  const height = top + bars.length * (barH + gap) + 36;
  // Log scale from 0.01x to the next power of ten above the largest ratio (at least 10x).
  const lo = -2;
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(...bars.map((b) => b.ratio), 1) * 1.0001)));
  const x = (ratio: number) =>
    labelW + ((Math.min(Math.max(Math.log10(Math.max(ratio, 1e-9)), lo), hi) - lo) / (hi - lo)) * plotW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    '<title>Benchmark ratios: subject / baseline and subject / peer</title>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Subject / baseline and subject / peer (median rates, log scale)</text>`,
  ];
  const bottom = top + bars.length * (barH + gap);
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e).toFixed(1);
    parts.push(
      `<line x1="${gx}" x2="${gx}" y1="${top - 6}" y2="${bottom}" stroke="${e === 0 ? '#444' : '#ddd'}" stroke-width="1"/>`,
    );
    parts.push(`<text x="${gx}" y="${bottom + 14}" text-anchor="middle" fill="#555">${10 ** e}×</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const x0 = x(10 ** lo);
    const w = Math.max(1, x(b.ratio) - x0);
    const fill = b.pass === undefined ? '#7a8ca3' : b.pass ? '#3a9a5b' : '#c94a3d';
    parts.push(`<text x="${labelW - 8}" y="${y + barH - 4}" text-anchor="end">${escapeXml(b.label)}</text>`);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${fill}"/>`,
    );
    parts.push(
      `<text x="${(x0 + w + 4).toFixed(1)}" y="${y + barH - 4}">${escapeXml(fmtRatio(b.ratio))}</text>`,
    );
    if (b.goal !== undefined) {
      const gx = x(b.goal).toFixed(1);
      parts.push(
        `<line x1="${gx}" x2="${gx}" y1="${y - 2}" y2="${y + barH + 2}" stroke="#111" stroke-width="2" stroke-dasharray="3,2"/>`,
      );
    }
  });
  parts.push(
    `<text x="10" y="${bottom + 30}" fill="#555">green: goal met · red: goal missed · grey: no ratio goal · dashed tick: the goal</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function markdown(report: BenchReport, chartFile: string): string {
  const m = report.machine;
  const lines = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (tools/bench); do not edit by hand. Each scenario runs its subject, its',
    'baseline and its peers alternately for several rounds in one process; rates are medians, `±` is half',
    'the min–max spread across rounds. Ratios compare medians (subject / baseline, subject / peer).',
    'Numbers from `--quick` runs are marked *quick* (fewer, shorter rounds; indicative only).',
    '',
    `Last run: ${m.date} on ${m.cores} cores (${m.cpu}), ${m.memGb} GB, Node ${m.node}, ${m.platform}.`,
    'The machine is shared (other work runs beside the benchmarks), so expect noise.',
    '',
    '| scenario | issue | unit | subject | baseline | subject / baseline | peers (subject / peer) | goal | result |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of [...report.results].sort((a, b) => a.name.localeCompare(b.name))) {
    if (r.error) {
      lines.push(
        `| ${r.name} | #${r.issue} | ${r.unit} | error: ${r.error.replace(/\|/g, '/').slice(0, 120)} | | | | | ✗ |`,
      );
      continue;
    }
    const peers = Object.entries(r.peers)
      .map(([n, p]) => `${n}: ${fmtRate(p.median)} (${fmtRatio(r.peerRatios[n])})`)
      .join('<br>');
    const goal = r.goal ? r.goal.text : '';
    const verdict = r.goal ? (r.goal.pass ? '✓ pass' : '✗ miss') : '';
    lines.push(
      `| ${r.name}${r.quick ? ' *quick*' : ''} | #${r.issue} | ${r.unit} | ${fmtRate(r.subject?.median)} ${fmtSpread(r.subject)} | ${
        r.baseline ? `${fmtRate(r.baseline.median)} ${fmtSpread(r.baseline)}` : '–'
      } | ${fmtRatio(r.ratio)} | ${peers || '–'} | ${goal} | ${verdict} |`,
    );
  }
  const fmtExtra = (e: Record<string, number>) =>
    Object.entries(e)
      .map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`)
      .join(', ');
  const extras = report.results.filter(
    (r) => r.subject?.extra || Object.values(r.peers ?? {}).some((p) => p.extra),
  );
  if (extras.length) {
    lines.push('', '## Extra measurements (medians; subject, then peers that report any)', '');
    for (const r of extras) {
      if (r.subject?.extra) lines.push(`- ${r.name}: ${fmtExtra(r.subject.extra)}`);
      for (const [peer, p] of Object.entries(r.peers ?? {}))
        if (p.extra) lines.push(`- ${r.name}, peer ${peer}: ${fmtExtra(p.extra)}`);
    }
  }
  lines.push('', '## Ratios', '', `![subject / baseline and subject / peer ratios](${chartFile})`, '');
  lines.push('Raw results (every round) are in `docs/bench-results/`.', '');
  return lines.join('\n');
}

/** Rewrites benchmarks.md and the chart from bench-results/latest.json without running anything. */
export function renderDocs(docsDir = join(ROOT, 'docs')): BenchReport {
  const report = JSON.parse(
    readFileSync(join(docsDir, 'bench-results', 'latest.json'), 'utf8'),
  ) as BenchReport;
  const chart = 'benchmarks-ratios.svg';
  writeFileSync(join(docsDir, chart), ratioChart(report.results));
  writeFileSync(join(docsDir, 'benchmarks.md'), markdown(report, chart));
  return report;
}

/** Runs the harness; returns the merged report it wrote. */
export async function runBench(
  options: BenchOptions = {},
): Promise<{ report: BenchReport; ran: ScenarioResult[] }> {
  const log = options.log ?? ((l: string) => console.log(l));
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 2 : 5);
  const scenariosDir = resolve(options.scenariosDir ?? join(HERE, 'scenarios'));
  const docsDir = resolve(options.docsDir ?? join(ROOT, 'docs'));
  const all = await loadScenarios(scenariosDir);
  const chosen = all.filter(({ file, scenario }) => selected(scenario.name, file, options.only));
  if (chosen.length === 0)
    throw new Error(`no scenario matches ${options.only?.join(', ') ?? '(all)'} in ${scenariosDir}`);
  const ran: ScenarioResult[] = [];
  for (const { file, scenario } of chosen) {
    log(`▶ ${scenario.name} (${file})`);
    const r = await runScenario(
      file,
      scenario,
      rounds,
      quick,
      options.timeoutMs ?? (quick ? 30_000 : 120_000),
    );
    ran.push(r);
    if (r.error) log(`  ✗ error: ${r.error}`);
    else {
      const peers = Object.entries(r.peerRatios)
        .map(([n, x]) => `, vs ${n} ${fmtRatio(x)}`)
        .join('');
      log(
        `  subject ${fmtRate(r.subject!.median)} ${r.unit} ${fmtSpread(r.subject)}` +
          (r.baseline
            ? `, baseline ${fmtRate(r.baseline.median)} ${fmtSpread(r.baseline)}, ratio ${fmtRatio(r.ratio)}`
            : '') +
          peers +
          (r.goal ? ` — goal ${r.goal.text}: ${r.goal.pass ? 'pass' : 'MISS'}` : ''),
      );
    }
  }
  const mach = machine();
  const resultsDir = join(docsDir, 'bench-results');
  let previous: ScenarioResult[] = [];
  try {
    previous = (JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8')) as BenchReport).results;
  } catch {
    // first run
  }
  const fresh = new Set(ran.map((r) => r.name));
  const known = new Set(all.map((x) => x.scenario.name));
  // Keep earlier results of scenarios that still exist and were not run this time.
  const merged = [...previous.filter((r) => !fresh.has(r.name) && known.has(r.name)), ...ran];
  const report: BenchReport = { machine: mach, results: merged };
  if (options.write ?? true) {
    mkdirSync(resultsDir, { recursive: true });
    const day = mach.date.slice(0, 10);
    writeFileSync(
      join(resultsDir, `${day}.json`),
      `${JSON.stringify({ machine: mach, results: ran }, null, 2)}\n`,
    );
    writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    const chart = 'benchmarks-ratios.svg';
    writeFileSync(join(docsDir, chart), ratioChart(merged));
    writeFileSync(join(docsDir, 'benchmarks.md'), markdown(report, chart));
    log(
      `wrote ${relative(process.cwd(), join(docsDir, 'benchmarks.md'))} and ${relative(process.cwd(), join(resultsDir, `${day}.json`))}`,
    );
  }
  return { report, ran };
}

export function parseBenchArgs(argv: string[]): BenchOptions & { help?: boolean; render?: boolean } {
  const out: BenchOptions & { help?: boolean; render?: boolean } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') out.quick = true;
    else if (a === '--only') (out.only ??= []).push(...value().split(','));
    else if (a === '--rounds') out.rounds = Number(value());
    else if (a === '--timeout') out.timeoutMs = Number(value()) * 1000;
    else if (a === '--scenarios') out.scenariosDir = resolve(value());
    else if (a === '--docs') out.docsDir = resolve(value());
    else if (a === '--no-write') out.write = false;
    else if (a === '--render') out.render = true;
    else if (a === '--help' || a === '-h') out.help = true;
    else if (a === '--') continue;
    else throw new Error(`unknown argument "${a}"`);
  }
  if (out.rounds !== undefined && !(Number.isInteger(out.rounds) && out.rounds > 0))
    throw new Error('--rounds must be a positive integer');
  return out;
}

const USAGE = `npm run bench [-- --quick] [-- --only <prefix>[,<prefix>]] [--rounds n] [--timeout seconds] [--scenarios dir] [--docs dir] [--no-write] [--render]`;

async function main() {
  let opts: ReturnType<typeof parseBenchArgs>;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\nusage: ${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(`usage: ${USAGE}`);
    return;
  }
  if (opts.render) {
    const report = renderDocs(opts.docsDir);
    console.log(`rendered docs/benchmarks.md from ${report.results.length} stored results`);
    return;
  }
  const { ran } = await runBench(opts);
  const errors = ran.filter((r) => r.error).length;
  const missed = ran.filter((r) => r.goal && !r.goal.pass).length;
  console.log(`${ran.length} scenarios, ${errors} errors, ${missed} goals missed`);
  // Goals are reported, not enforced (numbers on a shared machine are noisy); errors fail.
  process.exitCode = errors ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(1);
  });
}
