import type { MetricsRegistry } from './metrics-registry.js';

/**
 * The Prometheus text exposition (format 0.0.4) of `registry`, written by prom-client: HELP and
 * TYPE on every family, counters with `_total`, histograms with `le` buckets, plus whatever else
 * is in its prom-client Registry (process metrics, your own).
 */
export function toPrometheus(registry: MetricsRegistry): Promise<string> {
  return registry.metrics();
}
