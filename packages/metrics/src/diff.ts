import type { GroupSnapshot, MetricsSnapshot } from './metrics-registry.js';

export interface GroupDiff {
  readonly counters: Readonly<Record<string, number>>;
  readonly gauges: Readonly<Record<string, number>>;
}

/**
 * What changed from `before` to `after`: counter deltas and gauge deltas per group (instruments
 * that appeared count from zero). Histograms are left out: subtract their snapshots' counts if needed.
 */
export function diff(before: MetricsSnapshot, after: MetricsSnapshot): Readonly<Record<string, GroupDiff>> {
  const out: Record<string, GroupDiff> = {};
  const empty: GroupSnapshot = { counters: {}, gauges: {}, histograms: {} };
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? empty;
    const counters: Record<string, number> = {};
    const gauges: Record<string, number> = {};
    for (const [k, v] of Object.entries(a.counters)) counters[k] = v - (b.counters[k] ?? 0);
    for (const [k, v] of Object.entries(a.gauges)) gauges[k] = v - (b.gauges[k] ?? 0);
    out[name] = Object.freeze({ counters: Object.freeze(counters), gauges: Object.freeze(gauges) });
  }
  return Object.freeze(out);
}
