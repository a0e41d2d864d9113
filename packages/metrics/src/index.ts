export { Counter, Gauge } from './counter.js';
export { diff, type GroupDiff } from './diff.js';
export { Histogram, type HistogramSnapshot } from './histogram.js';
export {
  createMetrics,
  type GroupSnapshot,
  MetricsGroup,
  MetricsRegistry,
  type MetricsSnapshot,
} from './metrics-registry.js';
export { toPrometheus } from './prometheus.js';
