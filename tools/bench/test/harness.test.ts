import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type BenchReport, parseBenchArgs, runBench, stats } from '../src/run.js';

const scenariosDir = join(__dirname, 'fixtures', 'scenarios');
const docsDir = mkdtempSync(join(tmpdir(), 'bench-docs-'));
afterAll(() => rmSync(docsDir, { recursive: true, force: true }));

describe('bench harness (quick mode on fixture scenarios)', () => {
  it('runs subject, baseline and peers, computes ratios and goals, and writes results and docs', async () => {
    const lines: string[] = [];
    const { report, ran } = await runBench({
      scenariosDir,
      docsDir,
      quick: true,
      only: ['trivial'],
      timeoutMs: 500,
      log: (l) => lines.push(l),
    });
    expect(ran.map((r) => r.name).sort()).toEqual(['trivial.broken', 'trivial.hangs', 'trivial.sum']);
    expect(ran.find((r) => r.name === 'trivial.hangs')!.error).toContain(
      'trivial.hangs subject took longer than 0.5 s',
    );

    const sum = ran.find((r) => r.name === 'trivial.sum')!;
    expect(sum.error).toBeUndefined();
    expect(sum.quick).toBe(true);
    expect(sum.rounds).toBe(2);
    expect(sum.subject!.runs).toHaveLength(2);
    expect(sum.baseline!.runs).toHaveLength(2);
    expect(sum.peers.slower!.runs).toHaveLength(2);
    expect(sum.ratio).toBeCloseTo(sum.subject!.median / sum.baseline!.median, 10);
    expect(sum.peerRatios.slower).toBeCloseTo(sum.subject!.median / sum.peers.slower!.median, 10);
    expect(sum.goal).toMatchObject({ text: 'subject >= 0.01 x baseline', pass: true });

    // A runner returning nonsense is an error for that scenario, not for the run.
    const broken = ran.find((r) => r.name === 'trivial.broken')!;
    expect(broken.error).toMatch(/need ops > 0/);

    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    expect(report.machine.cpu.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith('▶ trivial.sum'))).toBe(true);

    const latest = JSON.parse(
      readFileSync(join(docsDir, 'bench-results', 'latest.json'), 'utf8'),
    ) as BenchReport;
    expect(latest.results.map((r) => r.name).sort()).toEqual([
      'trivial.broken',
      'trivial.hangs',
      'trivial.sum',
    ]);
    expect(existsSync(join(docsDir, 'bench-results', `${report.machine.date.slice(0, 10)}.json`))).toBe(true);

    const md = readFileSync(join(docsDir, 'benchmarks.md'), 'utf8');
    expect(md).toContain('| trivial.sum *quick* | #10 | adds/s |');
    expect(md).toContain('✓ pass');
    expect(md).toMatch(/slower: .*\(\d+\.\d+×\)/);
    expect(md).toContain('![subject / baseline and subject / peer ratios](benchmarks-ratios.svg)');
    expect(md).toContain(`${report.machine.cores} cores`);

    const svg = readFileSync(join(docsDir, 'benchmarks-ratios.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('trivial.sum / baseline');
    expect(svg).toContain('trivial.sum / slower');
    expect((svg.match(/<rect /g) ?? []).length).toBe(3); // background + two bars
    expect(svg).toContain('log scale');
  });

  it('merges a partial run (--only) with earlier results and records a missed absolute goal', async () => {
    const { report, ran } = await runBench({
      scenariosDir,
      docsDir,
      quick: true,
      only: ['other'],
      log: () => {},
    });
    expect(ran.map((r) => r.name)).toEqual(['other.absolute']);
    expect(ran[0]!.goal).toEqual({
      text: 'at least 1e15 ops/s',
      value: 1e6,
      pass: false,
      absoluteAtLeast: 1e15,
    });
    expect(report.results.map((r) => r.name).sort()).toEqual([
      'other.absolute',
      'trivial.broken',
      'trivial.hangs',
      'trivial.sum',
    ]);
    const md = readFileSync(join(docsDir, 'benchmarks.md'), 'utf8');
    expect(md).toContain('| other.absolute *quick* |');
    expect(md).toContain('✗ miss');
    expect(md).toContain('| trivial.sum *quick* |');
  });

  it('refuses a selection that matches nothing, and bad arguments', async () => {
    await expect(
      runBench({ scenariosDir, docsDir, quick: true, only: ['nope'], log: () => {} }),
    ).rejects.toThrow(/no scenario matches/);
    expect(parseBenchArgs(['--', '--quick', '--only', 'codec,pool', '--rounds', '3'])).toMatchObject({
      quick: true,
      only: ['codec', 'pool'],
      rounds: 3,
    });
    expect(() => parseBenchArgs(['--rounds', '0'])).toThrow(/positive/);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown argument/);
  });

  it('computes median, quartiles and spread', () => {
    const s = stats([10, 30, 20, 40, 50]);
    expect(s).toMatchObject({ median: 30, min: 10, max: 50, q1: 20, q3: 40 });
    expect(s.spread).toBeCloseTo(40 / 30);
    expect(stats([7]).median).toBe(7);
  });
});
