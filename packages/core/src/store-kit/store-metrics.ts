import type { CounterLike, GaugeLike, MetricsScope } from '../contracts/metrics.js';
import { nullMetrics } from '../null-metrics.js';

/** A MetricsRegistry (has `group`) or a scope already bound to a component. */
export type MetricsInput = MetricsScope | { group(name: string): MetricsScope };

export function metricsScope(input: MetricsInput | undefined, component: string): MetricsScope {
  if (input === undefined) return nullMetrics();
  if (typeof (input as { group?: unknown }).group === 'function')
    return (input as { group(name: string): MetricsScope }).group(component);
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

  constructor(scope: MetricsScope) {
    this.gets = scope.counter('gets', 'keys read by get/getMany');
    this.batches = scope.counter('batches', 'batches applied');
    this.puts = scope.counter('puts', 'put ops applied');
    this.dels = scope.counter('dels', 'del ops applied');
    this.scans = scope.counter('scans', 'scans started');
    this.scannedRows = scope.counter('scanned_rows', 'entries yielded by scans');
    this.watchers = scope.gauge('watchers', 'open watch iterators');
    this.errors = scope.counter('errors', 'operations that failed');
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
