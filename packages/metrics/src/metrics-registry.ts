import type { MetricsScope } from '@tributary/core';
import { Counter, Gauge } from './counter.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';

export interface GroupSnapshot {
  readonly counters: Readonly<Record<string, number>>;
  readonly gauges: Readonly<Record<string, number>>;
  readonly histograms: Readonly<Record<string, HistogramSnapshot>>;
}

/** A plain, deeply frozen copy of every group: safe to keep, compare and serialise. */
export type MetricsSnapshot = Readonly<Record<string, GroupSnapshot>>;

/** A named stats object (like cbdatasource's Stats): its instruments are created once, by name. */
export class MetricsGroup implements MetricsScope {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();

  constructor(
    readonly name: string,
    readonly labels: Readonly<Record<string, string>> = {},
  ) {}

  counter(name: string, help?: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter(name, help)));
    return c;
  }

  gauge(name: string, help?: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge(name, help)));
    return g;
  }

  histogram(name: string, help?: string): Histogram {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = new Histogram(name, help)));
    return h;
  }

  snapshot(): GroupSnapshot {
    const counters: Record<string, number> = {};
    const gauges: Record<string, number> = {};
    const histograms: Record<string, HistogramSnapshot> = {};
    for (const [k, c] of this.counters) counters[k] = c.value;
    for (const [k, g] of this.gauges) gauges[k] = g.value;
    for (const [k, h] of this.histograms) histograms[k] = Object.freeze(h.snapshot());
    return Object.freeze({
      counters: Object.freeze(counters),
      gauges: Object.freeze(gauges),
      histograms: Object.freeze(histograms),
    });
  }
}

export class MetricsRegistry {
  readonly #groups = new Map<string, MetricsGroup>();

  /**
   * The group named `name` (created on first use). Components call this once with their
   * component name, e.g. `metrics.group('datasource')`, and keep the instruments it returns.
   */
  group(name: string, labels?: Record<string, string>): MetricsGroup {
    let g = this.#groups.get(name);
    if (!g) this.#groups.set(name, (g = new MetricsGroup(name, labels)));
    return g;
  }

  groups(): MetricsGroup[] {
    return [...this.#groups.values()];
  }

  /** Drops a group, e.g. when the component that owned it closes. */
  remove(name: string): void {
    this.#groups.delete(name);
  }

  snapshot(): MetricsSnapshot {
    const out: Record<string, GroupSnapshot> = {};
    for (const [k, g] of this.#groups) out[k] = g.snapshot();
    return Object.freeze(out);
  }
}

export function createMetrics(): MetricsRegistry {
  return new MetricsRegistry();
}
