export type { MetricsInput, StoreStats, WatchIterable } from '@tributary/core';
export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from './errors.js';
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
