import type { CounterLike, GaugeLike, HistogramLike, MetricsScope } from '../contracts/metrics.js';
import { nullMetrics } from '../null-metrics.js';

/** A MetricsRegistry (has `group`) or a scope already bound to a component. */
export type MetricsInput =
  | MetricsScope
  | { group(name: string, labels?: Record<string, string>): MetricsScope };

/**
 * The scope a component reports to: `input.group(component, labels)` for a registry, `input` itself
 * for a scope, a null scope for none. Stores call it as `metricsScope(m, 'store', { store: 'lmdb' })`,
 * so every store's counts are one family (`tributary_store_batches_total{store="lmdb"}`).
 */
export function metricsScope(
  input: MetricsInput | undefined,
  component: string,
  labels?: Record<string, string>,
): MetricsScope {
  if (input === undefined) return nullMetrics();
  if (typeof (input as { group?: unknown }).group === 'function')
    return (input as { group(name: string, labels?: Record<string, string>): MetricsScope }).group(
      component,
      labels,
    );
  return input as MetricsScope;
}

export interface StoreStats {
  gets: number;
  batches: number;
  puts: number;
  dels: number;
  scans: number;
  scannedRows: number;
  watchers: number;
  errors: number;
}

/** The counters every store plugin reports. */
export class StoreCounters {
  readonly gets: CounterLike;
  readonly batches: CounterLike;
  readonly puts: CounterLike;
  readonly dels: CounterLike;
  readonly scans: CounterLike;
  readonly scannedRows: CounterLike;
  readonly watchers: GaugeLike;
  readonly errors: CounterLike;
  /** Seconds each batch took, from the call to applied: what a writer waits for per commit. */
  readonly batchSeconds: HistogramLike;

  constructor(scope: MetricsScope) {
    this.gets = scope.counter('gets', 'Keys read by get and getMany');
    this.batches = scope.counter('batches', 'Atomic batches applied');
    this.puts = scope.counter('puts', 'Put operations applied in batches');
    this.dels = scope.counter('dels', 'Delete operations applied in batches');
    this.scans = scope.counter('scans', 'Scans started');
    this.scannedRows = scope.counter('scanned_rows', 'Entries yielded by scans');
    this.watchers = scope.gauge('watchers', 'Open watch iterators');
    this.errors = scope.counter('errors', 'Store operations that failed');
    this.batchSeconds = scope.histogram('batch_seconds', 'Time an atomic batch took to apply');
  }

  snapshot(): StoreStats {
    return {
      gets: this.gets.value,
      batches: this.batches.value,
      puts: this.puts.value,
      dels: this.dels.value,
      scans: this.scans.value,
      scannedRows: this.scannedRows.value,
      watchers: this.watchers.value,
      errors: this.errors.value,
    };
  }
}
