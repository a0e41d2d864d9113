import type { MetricsScope } from '@tributary/core';
import { collectDefaultMetrics, type Metric, Registry as PromRegistry } from 'prom-client';
import { version as PACKAGE_VERSION } from '../package.json';
import { Counter, Gauge } from './counter.js';
import { Family, type FamilyType, type Source } from './family.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';
import { checkLabels, checkName, groupPart, type Labels, labelKey } from './names.js';

export interface GroupSnapshot {
  readonly counters: Readonly<Record<string, number>>;
  readonly gauges: Readonly<Record<string, number>>;
  readonly histograms: Readonly<Record<string, HistogramSnapshot>>;
}

/**
 * A plain, deeply frozen copy of every group: safe to keep, compare and serialise. Keyed by group
 * name, or `name{label="value",…}` for a group with labels; inside, by instrument name, or
 * `name{label="value"}` for an instrument with labels of its own.
 */
export type MetricsSnapshot = Readonly<Record<string, GroupSnapshot>>;

export interface MetricsOptions {
  /**
   * The prom-client Registry to expose into: yours, next to your own metrics (then your
   * `register.metrics()` includes ours). Default: a new one. Several MetricsRegistry on one
   * prom-client Registry share its families.
   */
  registry?: PromRegistry;
  /**
   * Node.js process, heap, GC and event-loop metrics (prom-client's `collectDefaultMetrics`:
   * `process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, `nodejs_gc_duration_seconds`, …).
   * Default false: they start observers that live as long as the process, so an application turns
   * them on once (the CLI does).
   */
  processMetrics?: boolean;
  /** The `version` label of `tributary_build_info` (default: this package's version). */
  version?: string;
  /** Prefix of every family name (default `tributary_`). */
  prefix?: string;
}

export interface HistogramOptions {
  /** Exposition bucket bounds (`le`). Default by the name's unit: `_seconds`, `_bytes`, else counts. */
  buckets?: readonly number[];
  labels?: Labels;
}

/** What every MetricsRegistry on one prom-client Registry shares. */
interface Shared {
  readonly families: Map<string, Family>;
  readonly collectors: Set<() => void>;
  collecting: boolean;
  processMetrics: boolean;
}

const GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const SHARED = new WeakMap<PromRegistry, Shared>();

function keyOf(name: string, labels: Labels | undefined): string {
  return labels && Object.keys(labels).length ? `${name}{${labelKey(labels)}}` : name;
}

/**
 * A named stats object (like cbdatasource's Stats) with labels common to its instruments (bucket,
 * node…). Its instruments are created once, by name and labels, and are what the component
 * increments: a property add, no label hashing on the hot path.
 */
export class MetricsGroup implements MetricsScope {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();
  readonly #attached: { family: Family; labels: Labels; source: Source; key?: string }[] = [];
  readonly #part: string;
  readonly #help = new Map<string, string>();

  constructor(
    private readonly registry: MetricsRegistry,
    readonly name: string,
    readonly labels: Labels = {},
  ) {
    this.#part = groupPart(name);
    checkLabels(labels);
  }

  /** The family name an instrument of this group is exposed as (`tributary_<group>_<name>[_total]`). */
  familyName(name: string, type: FamilyType): string {
    checkName('metric', name);
    const full = `${this.registry.prefix}${this.#part}_${name}`;
    return type === 'counter' && !full.endsWith('_total') ? `${full}_total` : full;
  }

  #labels(extra: Labels | undefined): Labels {
    return extra && Object.keys(extra).length ? { ...this.labels, ...checkLabels(extra) } : this.labels;
  }

  /**
   * HELP texts by instrument name, for a component that declares them in one table and then asks
   * for instruments by name alone where it counts.
   */
  describe(help: Readonly<Record<string, string>>): this {
    for (const [k, v] of Object.entries(help)) this.#help.set(k, v);
    return this;
  }

  #attach(
    type: FamilyType,
    name: string,
    help: string | undefined,
    labels: Labels | undefined,
    source: Source,
    key?: string,
  ): void {
    const text = help || this.#help.get(name) || `${this.name} ${name.replace(/_/g, ' ')}`;
    const family = this.registry.family(this.familyName(name, type), type, text);
    const all = this.#labels(labels);
    family.add(all, source);
    this.#attached.push({ family, labels: all, source, key });
  }

  /** A monotonic counter, exposed as `tributary_<group>_<name>_total` (`_total` added when missing). */
  counter(name: string, help?: string, labels?: Labels): Counter {
    const k = keyOf(name, labels);
    let c = this.counters.get(k);
    if (!c) {
      c = new Counter(name, help);
      this.#attach('counter', name, help, labels, c, k);
      this.counters.set(k, c);
    }
    return c;
  }

  gauge(name: string, help?: string, labels?: Labels): Gauge {
    const k = keyOf(name, labels);
    let g = this.gauges.get(k);
    if (!g) {
      g = new Gauge(name, help);
      this.#attach('gauge', name, help, labels, g, k);
      this.gauges.set(k, g);
    }
    return g;
  }

  /** A histogram: percentiles in `snapshot()`, `_bucket{le}`/`_sum`/`_count` in the exposition. */
  histogram(name: string, help?: string, options: HistogramOptions = {}): Histogram {
    const k = keyOf(name, options.labels);
    let h = this.histograms.get(k);
    if (!h) {
      h = new Histogram(name, help, options.buckets);
      this.#attach('histogram', name, help, options.labels, h, k);
      this.histograms.set(k, h);
    }
    return h;
  }

  /**
   * A counter exposed from a count the component already keeps (one of cbdatasource's Tot* stats,
   * say, a Counter that is in no group), or from a function read when scraped, so the hot path
   * pays nothing twice. A function keeps what it closes over alive as long as the registry: pass
   * a Counter from a component that comes and goes.
   */
  counterFrom(name: string, help: string, read: Counter | (() => number), labels?: Labels): void {
    this.#attach('counter', name, help, labels, read);
  }

  /** A gauge read when scraped (queue lengths, open connections: state the component has anyway). */
  gaugeFrom(name: string, help: string, read: () => number, labels?: Labels): void {
    this.#attach('gauge', name, help, labels, read);
  }

  /** Drops one instrument (say a vbucket no longer streamed) from this group and the exposition. */
  remove(name: string, labels?: Labels): void {
    const k = keyOf(name, labels);
    this.counters.delete(k);
    this.gauges.delete(k);
    this.histograms.delete(k);
    for (let i = this.#attached.length - 1; i >= 0; i--) {
      const a = this.#attached[i]!;
      if (a.key !== k) continue;
      a.family.delete(a.labels, a.source);
      this.#attached.splice(i, 1);
    }
  }

  /** Detaches every instrument from the exposition (the registry's `remove` calls it). */
  detach(): void {
    for (const a of this.#attached.splice(0)) a.family.delete(a.labels, a.source);
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
  readonly #shared: Shared;
  /** The prom-client Registry our families are in: serve `await prom.metrics()`, or merge it with yours. */
  readonly prom: PromRegistry;
  readonly prefix: string;

  constructor(options: MetricsOptions = {}) {
    this.prom = options.registry ?? new PromRegistry();
    this.prefix = options.prefix ?? 'tributary_';
    if (this.prefix !== '') checkName('metric prefix', this.prefix);
    let shared = SHARED.get(this.prom);
    if (!shared) {
      shared = { families: new Map(), collectors: new Set(), collecting: false, processMetrics: false };
      SHARED.set(this.prom, shared);
    }
    this.#shared = shared;
    const version = options.version ?? PACKAGE_VERSION;
    const build = this.family(
      `${this.prefix}build_info`,
      'gauge',
      'The running Tributary version (always 1)',
    );
    if (![...build.children.values()].some((c) => c.labels.version === version))
      build.add({ version }, () => 1);
    if (options.processMetrics) this.collectProcessMetrics();
  }

  /** Turns on prom-client's default process, GC and event-loop metrics in `prom` (once per registry). */
  collectProcessMetrics(): void {
    if (this.#shared.processMetrics) return;
    this.#shared.processMetrics = true;
    collectDefaultMetrics({ register: this.prom });
    // prom-client names three gauges `_total`, which Prometheus keeps for counters (promtool
    // check metrics refuses them); each is the sum of the by-type gauge beside it.
    for (const n of GAUGES_NAMED_TOTAL) this.prom.removeSingleMetric(n);
  }

  /**
   * The group named `name` with `labels` (created on first use, the same object after: components
   * with one name and label set share instruments, and their counts add up). Components call this
   * once, e.g. `metrics.group('datasource', { bucket })`, and keep the instruments it returns.
   */
  group(name: string, labels?: Record<string, string>): MetricsGroup {
    const k = keyOf(name, labels);
    let g = this.#groups.get(k);
    if (!g) this.#groups.set(k, (g = new MetricsGroup(this, name, labels)));
    return g;
  }

  groups(): MetricsGroup[] {
    return [...this.#groups.values()];
  }

  /** Drops a group (by name: every label set of it), e.g. when the component that owned it closes. */
  remove(name: string | MetricsGroup): void {
    for (const [k, g] of this.#groups) {
      if (typeof name === 'string' ? g.name !== name : g !== name) continue;
      g.detach();
      this.#groups.delete(k);
    }
  }

  /**
   * Runs `fn` before every scrape (and snapshot), to set gauges from state a component keeps (per
   * vbucket lag, say). Returns the function that stops it.
   */
  onCollect(fn: () => void): () => void {
    this.#shared.collectors.add(fn);
    return () => this.#shared.collectors.delete(fn);
  }

  /** Runs the collectors once per scrape: every family's get() asks, the first one runs them. */
  collect(): void {
    const s = this.#shared;
    if (s.collecting) return;
    s.collecting = true;
    queueMicrotask(() => {
      s.collecting = false;
    });
    for (const f of s.collectors) f();
  }

  /** @internal The family `name` of `type` (created and registered in `prom` on first use). */
  family(name: string, type: FamilyType, help: string): Family {
    let f = this.#shared.families.get(name);
    if (!f) {
      f = new Family(name, type, help, () => this.collect());
      this.prom.registerMetric(f as unknown as Metric);
      this.#shared.families.set(name, f);
    } else {
      f.assertType(type);
    }
    return f;
  }

  /** The Prometheus text exposition of `prom` (ours and anything else registered there). */
  async metrics(): Promise<string> {
    this.collect();
    return this.prom.metrics();
  }

  /** The Content-Type to serve `metrics()` with. */
  get contentType(): string {
    return this.prom.contentType;
  }

  snapshot(): MetricsSnapshot {
    this.collect();
    const out: Record<string, GroupSnapshot> = {};
    for (const [k, g] of this.#groups) out[k] = g.snapshot();
    return Object.freeze(out);
  }
}

export function createMetrics(options?: MetricsOptions): MetricsRegistry {
  return new MetricsRegistry(options);
}
