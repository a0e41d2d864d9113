export type { MetricsInput, StoreStats, WatchIterable } from '@tributary/core';
export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from './errors.js';
export { createLmdbStore, LmdbStore, type LmdbStoreOptions } from './lmdb-store.js';
export { type LmdbStorePluginOptions, lmdbStoreOptionsSchema, parseLmdbStoreOptions } from './options.js';
export { plugin, plugins } from './plugin.js';
