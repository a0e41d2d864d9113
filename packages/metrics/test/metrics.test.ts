import { describe, expect, it } from 'vitest';
import { createMetrics, diff, toPrometheus } from '../src/index.js';

describe('metrics', () => {
  it('counts, snapshots immutably and diffs', () => {
    const m = createMetrics();
    const g = m.group('datasource');
    const c = g.counter('TotStart', 'starts');
    c.inc();
    const a = m.snapshot();
    c.inc(4);
    g.gauge('lag').set(7);
    const b = m.snapshot();
    expect(a.datasource!.counters.TotStart).toBe(1);
    expect(Object.isFrozen(a.datasource!.counters)).toBe(true);
    expect(diff(a, b).datasource!.counters.TotStart).toBe(4);
    expect(toPrometheus(m)).toContain('tributary_datasource_TotStart 5');
  });

  it('reports histogram percentiles within bucket precision', () => {
    const h = createMetrics().group('x').histogram('lat');
    for (let i = 1; i <= 1000; i++) h.observe(i);
    const s = h.snapshot();
    expect(s.p50).toBeGreaterThanOrEqual(500);
    expect(s.p50).toBeLessThan(500 * 1.05);
    expect(s.p99).toBeGreaterThanOrEqual(990);
    expect(s.max).toBe(1000);
  });
});
