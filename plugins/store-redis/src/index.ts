export type { MetricsInput, StoreStats, WatchIterable } from '@tributary/core';
export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from './errors.js';
export { parseRedisStoreOptions, type RedisStorePluginOptions, redisStoreOptionsSchema } from './options.js';
export { plugin, plugins } from './plugin.js';
export {
  createRedisStore,
  DEFAULT_REDIS_PREFIX,
  DEFAULT_REDIS_URL,
  decodeKeyList,
  encodeKeyList,
  RedisStore,
  type RedisStoreOptions,
} from './redis-store.js';
