export { BYTES_BUCKETS, bucketQuantile, COUNT_BUCKETS, defaultBuckets, SECONDS_BUCKETS } from './buckets.js';
export { Counter, Gauge } from './counter.js';
export { diff, type GroupDiff } from './diff.js';
export { ErrMetricsName, ErrMetricsTypeConflict } from './errors.js';
export { Histogram, type HistogramBuckets, type HistogramSnapshot } from './histogram.js';
export {
  createMetrics,
  type GroupSnapshot,
  type HistogramOptions,
  MetricsGroup,
  type MetricsOptions,
  MetricsRegistry,
  type MetricsSnapshot,
} from './metrics-registry.js';
export { type Labels, snakeCase } from './names.js';
export { toPrometheus } from './prometheus.js';
