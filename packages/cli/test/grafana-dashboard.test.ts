import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/index.js';
import { lineChart } from '../src/status/svg-chart.js';

// The Grafana dashboard in docs/ is built on the metric names; this test feeds it from a real
// Prometheus (Debian's `prometheus`) scraping a running demo: every panel's query must return
// series, so a renamed metric breaks the test, not the dashboard. With UPDATE_SCREENSHOT=1 the
// panels, drawn from Prometheus's query_range answers, become docs/grafana-dashboard.png.
const ROOT = join(__dirname, '..', '..', '..');
const DASHBOARD = join(ROOT, 'docs', 'grafana', 'tributary-dashboard.json');
const PROMETHEUS = '/usr/bin/prometheus';
// The same path `npm test`'s set-up (tools/test-setup) finds or installs.
const CHROMIUM = process.env.TRIBUTARY_CHROMIUM || '/usr/bin/chromium';

interface Panel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig: { defaults: { unit: string } };
  targets: { expr: string; legendFormat: string; instant?: boolean }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: unknown };
const expand = (expr: string) => expr.replace(/\$bucket/g, '.*');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor<T>(f: () => Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const stop = new AbortController();
let demo: Promise<number>;
let out = '';
let prom: ChildProcess;
let promUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'prom-'));
let started = 0;

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expand(expr))}`);
  const body = (await r.json()) as { status: string; error?: string; data: { result: never[] } };
  expect(body.status, `${expr}: ${body.error}`).toBe('success');
  return body.data.result;
}

beforeAll(async () => {
  expect(existsSync(PROMETHEUS), `${PROMETHEUS} is missing (apt-get install -y prometheus)`).toBe(true);
  demo = run(['node', 'tributary', 'demo', '--memory', '--rate', '1500'], {
    stdout: (t) => {
      out += t;
    },
    stderr: () => {},
    isTTY: false,
    signal: stop.signal,
  });
  const status = await waitFor(async () => /^status\s+(\S+)/m.exec(out)?.[1], 'the demo');
  const target = new URL(status).host;
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: tributary\n    static_configs: [{ targets: ['${target}'] }]\n`,
  );
  prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  started = Date.now() / 1000;
  await waitFor(async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 'prometheus');
  // an unauthenticated _changes request: a 401, so the HTTP errors panel has a series
  const changes = /^_changes (\S+)/m.exec(out)![1]!;
  expect((await fetch(changes)).status).toBe(401);
  // a minute-long rate() needs two scrapes; the panels read better with a few more
  await waitFor(
    async () => {
      const r = await query('sum(rate(tributary_datasource_changes_total[1m])) > 0');
      // (for the docs picture, past the first rate() window: the lines are steady then)
      const settle = process.env.UPDATE_SCREENSHOT === '1' ? 75 : 15;
      return r.length > 0 && Date.now() / 1000 - started > settle ? true : undefined;
    },
    'rates in prometheus',
    150_000,
  );
}, 180_000);

afterAll(async () => {
  prom?.kill('SIGTERM');
  stop.abort();
  await demo;
  rmSync(dir, { recursive: true, force: true });
});

describe('the Grafana dashboard against a real Prometheus scraping the demo', () => {
  it('scrapes cleanly: the target is up and every panel query returns series', {
    timeout: 60_000,
  }, async () => {
    const up = await query('up{job="tributary"}');
    expect(up.map((s) => s.value[1])).toEqual(['1']);
    // (Prometheus drops a scrape it cannot parse: a sample per family proves it parsed ours)
    const families = await query('count by (__name__) ({job="tributary", __name__=~"tributary_.*"})');
    expect(families.length).toBeGreaterThan(40);
    // docs/metrics.md lists every family the demo exposes
    const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const listed = new Set([...doc.matchAll(/^\| `(tributary_\w+)` \|/gm)].map((m) => m[1]));
    const missing = families
      .map((f) => f.metric.__name__!)
      .map((n) => (listed.has(n) ? n : n.replace(/_(bucket|sum|count)$/, '')))
      .filter((n) => !listed.has(n));
    expect([...new Set(missing)], 'families missing from docs/metrics.md').toEqual([]);
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        const r = await query(t.expr);
        expect(r.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
      }
    }
    const verdict = await query('tributary_pipeline_verdict == 1');
    expect(verdict.map((s) => s.metric.state)).toEqual([expect.stringMatching(/healthy|catching up/)]);
  });

  it('renders the same panels from query_range (the docs picture)', { timeout: 60_000 }, async () => {
    const end = Date.now() / 1000;
    const start = Math.max(started, end - 300);
    const colours = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c'];
    const cells: string[] = [];
    for (const p of dashboard.panels) {
      const series: { name: string; colour: string; values: number[] }[] = [];
      let times: number[] = [];
      for (const t of p.targets) {
        const u = `${promUrl}/api/v1/query_range?query=${encodeURIComponent(expand(t.expr))}&start=${start}&end=${end}&step=1`;
        const body = (await (await fetch(u)).json()) as {
          data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
        };
        for (const r of body.data.result) {
          times = r.values.map(([ts]) => ts * 1000);
          const name = t.legendFormat.replace(/\{\{(\w+)\}\}/g, (_, k: string) => r.metric[k] ?? '');
          series.push({
            name,
            colour: colours[series.length % colours.length]!,
            values: r.values.map(([, v]) => Number(v)),
          });
        }
      }
      expect(series.length, p.title).toBeGreaterThan(0);
      const w = p.gridPos.w * 56;
      if (p.type === 'stat') {
        const label = series.map((s) => `${s.name}: ${+Number(s.values.at(-1)).toPrecision(4)}`).join(' · ');
        cells.push(
          `<div class="stat" style="width:${w - 12}px"><span>${p.title}</span><b>${label}</b></div>`,
        );
      } else {
        cells.push(
          lineChart({
            title: p.title,
            unit: p.fieldConfig.defaults.unit,
            times,
            series: series.slice(0, 6),
            width: w - 12,
            height: 200,
          }),
        );
      }
    }
    const html = `<!doctype html><html><head><meta charset="utf-8"><style>
      body{background:#111217;color:#ccccdc;font:13px system-ui,sans-serif;margin:12px}
      h1{font-size:17px;margin:0 0 8px} .board{position:relative;width:1380px;height:${Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * 30))}px}.cell{position:absolute;box-sizing:border-box}
      .stat{background:#181b1f;border-radius:4px;padding:8px 10px}.stat span{color:#8e8e8e;display:block}
      .stat b{font-size:17px;color:#73bf69}.chart{background:#181b1f;border-radius:4px}
      .chart .grid{stroke:#2c3235}.chart .axis{stroke:#464c54}.chart .tick{fill:#8e8e8e;font-size:10px}
      .chart .ct{fill:#ccccdc;font-size:12px}.chart .cu{fill:#8e8e8e}.chart .lg{fill:#ccccdc;font-size:11px}
      </style></head><body><h1>Tributary (docs/grafana/tributary-dashboard.json), from Prometheus scraping tributary demo</h1>
      <div class="board">${cells.join('')}</div></body></html>`;
    const shots = process.env.UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs') : dir;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--headless'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1410, height: 900 } });
      await page.setContent(html);
      const shot = await page.screenshot({ path: join(shots, 'grafana-dashboard.png'), fullPage: true });
      expect(shot.subarray(1, 4).toString('latin1')).toBe('PNG');
    } finally {
      await browser.close();
    }
  });
});
