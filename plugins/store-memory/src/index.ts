export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from './errors.js';
export type { MetricsInput, StoreStats } from './internal/metrics.js';
export type { WatchIterable } from './internal/watch-hub.js';
export {
  createMemoryBackend,
  createMemoryStore,
  type MemoryBackend,
  MemoryStore,
  type MemoryStoreOptions,
} from './memory-store.js';
export {
  type MemoryStorePluginOptions,
  memoryStoreOptionsSchema,
  parseMemoryStoreOptions,
} from './options.js';
export { plugin, plugins } from './plugin.js';
