import { describe, expect, it } from 'vitest';
import { Counter, createMetrics, diff, Gauge, Histogram } from '../src/index.js';

describe('counters and gauges', () => {
  it('counts up by one or by n', () => {
    const c = new Counter('x');
    c.inc();
    c.inc(41);
    expect(c.value).toBe(42);
  });

  it('gauges set, go up and down', () => {
    const g = new Gauge('inflight');
    g.set(10);
    g.inc();
    g.dec(4);
    g.inc(3);
    expect(g.value).toBe(10);
  });

  it('a group hands out one instrument per name, so components can look them up again', () => {
    const m = createMetrics();
    const g = m.group('pool');
    expect(g.counter('acquired')).toBe(g.counter('acquired'));
    expect(g.gauge('size')).toBe(g.gauge('size'));
    expect(g.histogram('wait')).toBe(g.histogram('wait'));
    expect(m.group('pool')).toBe(g);
    expect(m.groups().map((x) => x.name)).toEqual(['pool']);
    m.remove('pool');
    expect(m.groups()).toEqual([]);
    expect(m.snapshot()).toEqual({});
  });
});

describe('histogram', () => {
  it('reports percentiles within bucket precision (about 4.4 %) and never under-reports', () => {
    const h = createMetrics().group('x').histogram('lat');
    const values: number[] = [];
    let seed = 7;
    for (let i = 0; i < 50_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const v = 0.05 + (seed / 2 ** 31) ** 3 * 5000; // skewed, like latencies
      values.push(v);
      h.observe(v);
    }
    values.sort((a, b) => a - b);
    const exact = (p: number) => values[Math.ceil((p / 100) * values.length) - 1]!;
    const s = h.snapshot();
    for (const [p, got] of [
      [50, s.p50],
      [90, s.p90],
      [99, s.p99],
      [99.9, s.p999],
    ] as const) {
      expect(got).toBeGreaterThanOrEqual(exact(p));
      expect(got).toBeLessThanOrEqual(exact(p) * 1.045);
    }
    expect(s.count).toBe(50_000);
    expect(s.min).toBe(values[0]);
    expect(s.max).toBe(values.at(-1));
    expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
    expect(s.p50).toBeLessThanOrEqual(s.p90);
    expect(s.p90).toBeLessThanOrEqual(s.p99);
    expect(s.p99).toBeLessThanOrEqual(s.p999);
    expect(s.p999).toBeLessThanOrEqual(s.max);
  });

  it('handles a constant stream, zeros, negatives and huge values', () => {
    const h = new Histogram('h');
    for (let i = 0; i < 100; i++) h.observe(42);
    expect(h.snapshot()).toMatchObject({ p50: 42, p999: 42, min: 42, max: 42, mean: 42 });
    h.reset();
    expect(h.snapshot()).toEqual({
      count: 0,
      sum: 0,
      min: 0,
      max: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p999: 0,
    });
    h.observe(0);
    h.observe(-5);
    h.observe(1e300);
    const s = h.snapshot();
    expect(s.count).toBe(3);
    expect(s.min).toBe(-5);
    expect(s.max).toBe(1e300);
    expect(s.p50).toBeGreaterThanOrEqual(-5);
    expect(s.p999).toBe(1e300);
  });

  it('keeps bounded memory: observing millions of values allocates nothing per value', () => {
    const h = new Histogram('h');
    for (let i = 0; i < 10_000; i++) h.observe(i); // warm up (JIT)
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2_000_000; i++) h.observe((i % 100_000) + 0.5);
    const grown = process.memoryUsage().heapUsed - before;
    // Keeping samples would take >= 16 MB for 2 M doubles.
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    expect(h.count).toBe(2_010_000);
  });
});

describe('snapshot and diff', () => {
  it('snapshots are plain, deeply frozen copies that later updates do not touch', () => {
    const m = createMetrics();
    const g = m.group('datasource');
    g.counter('starts').inc();
    g.gauge('lag').set(3);
    g.histogram('batch').observe(10);
    const a = m.snapshot();
    g.counter('starts').inc(4);
    g.gauge('lag').set(1);
    g.histogram('batch').observe(1000);
    m.group('late').counter('n').inc();

    expect(a).toEqual({
      datasource: {
        counters: { starts: 1 },
        gauges: { lag: 3 },
        histograms: {
          batch: { count: 1, sum: 10, min: 10, max: 10, mean: 10, p50: 10, p90: 10, p99: 10, p999: 10 },
        },
      },
    });
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.datasource)).toBe(true);
    expect(Object.isFrozen(a.datasource!.counters)).toBe(true);
    expect(Object.isFrozen(a.datasource!.histograms.batch)).toBe(true);
    expect(() => {
      (a.datasource!.counters as Record<string, number>).starts = 99;
    }).toThrow(TypeError);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(m.snapshot().datasource!.counters.starts).toBe(5);
  });

  it('diff gives counter and gauge deltas; new groups and instruments count from zero', () => {
    const m = createMetrics();
    const g = m.group('pool');
    g.counter('acquired').inc(10);
    g.gauge('size').set(4);
    const a = m.snapshot();
    g.counter('acquired').inc(5);
    g.counter('created').inc(2);
    g.gauge('size').set(1);
    m.group('codec').counter('frames').inc(7);
    const d = diff(a, m.snapshot());
    expect(d).toEqual({
      pool: { counters: { acquired: 5, created: 2 }, gauges: { size: -3 } },
      codec: { counters: { frames: 7 }, gauges: {} },
    });
    expect(Object.isFrozen(d.pool!.counters)).toBe(true);
    expect(diff(a, a)).toEqual({ pool: { counters: { acquired: 0 }, gauges: { size: 0 } } });
  });
});
