import type { Counter, Gauge } from './counter.js';
import { ErrMetricsTypeConflict } from './errors.js';
import type { Histogram } from './histogram.js';
import { type Labels, labelKey } from './names.js';

export type FamilyType = 'counter' | 'gauge' | 'histogram';

/** What adds to one series: a live instrument, or a function read at scrape time. */
export type Source = Counter | Gauge | Histogram | (() => number);

interface Child {
  readonly labels: Labels;
  readonly sources: Set<Source>;
}

interface PromValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * One Prometheus metric family (a name, a type, a HELP): the series under it, one per label set.
 * Several sources may feed one series (two components reporting under the same labels); their
 * values add up. It is registered in a prom-client Registry as a collector: prom-client writes
 * the text, and reads our cheap instruments only when scraped.
 */
export class Family {
  readonly children = new Map<string, Child>();
  /** prom-client calls this aggregator when it merges cluster workers' metrics. */
  readonly aggregator = 'sum';
  bounds: readonly number[] | undefined;

  constructor(
    readonly name: string,
    readonly type: FamilyType,
    public help: string,
    private readonly beforeScrape: () => void,
  ) {}

  assertType(type: FamilyType): void {
    if (type !== this.type) throw ErrMetricsTypeConflict(this.name, this.type, type);
  }

  add(labels: Labels, source: Source): void {
    if (typeof source !== 'function' && 'bounds' in source) {
      if (!this.bounds) this.bounds = source.bounds;
      else if (source.bounds.join() !== this.bounds.join())
        throw new RangeError(`histogram ${this.name}: every series needs the same buckets`);
    }
    const k = labelKey(labels);
    let c = this.children.get(k);
    if (!c) this.children.set(k, (c = { labels, sources: new Set() }));
    c.sources.add(source);
  }

  delete(labels: Labels, source: Source): void {
    const k = labelKey(labels);
    const c = this.children.get(k);
    if (!c) return;
    c.sources.delete(source);
    if (c.sources.size === 0) this.children.delete(k);
  }

  /** prom-client's collector contract: `{ name, help, type, values, aggregator }`. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: PromValue[];
    aggregator: string;
  }> {
    this.beforeScrape();
    const values: PromValue[] = [];
    for (const c of this.children.values()) {
      if (this.type === 'histogram') this.#histogram(c, values);
      else {
        let v = 0;
        for (const s of c.sources) v += typeof s === 'function' ? s() : (s as Counter | Gauge).value;
        values.push({ value: v, labels: { ...c.labels } });
      }
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  #histogram(c: Child, out: PromValue[]): void {
    const bounds = this.bounds ?? [];
    const cumulative = new Array<number>(bounds.length + 1).fill(0);
    let sum = 0;
    let count = 0;
    for (const s of c.sources) {
      const b = (s as Histogram).buckets();
      for (let i = 0; i < cumulative.length; i++) cumulative[i]! += b.cumulative[i]!;
      sum += b.sum;
      count += b.count;
    }
    for (let i = 0; i < cumulative.length; i++) {
      const le = i < bounds.length ? bounds[i]! : '+Inf';
      out.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le }, value: cumulative[i]! });
    }
    out.push({ metricName: `${this.name}_sum`, labels: { ...c.labels }, value: sum });
    out.push({ metricName: `${this.name}_count`, labels: { ...c.labels }, value: count });
  }

  /** prom-client's registry.resetMetrics() calls this; our instruments belong to their components. */
  reset(): void {}
}
