export {
  decodeKeyList,
  encodeKeyList,
  type MetricsInput,
  type StoreStats,
  type WatchIterable,
} from '@tributary/core';
export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from './errors.js';
export { parseRedisStoreOptions, type RedisStorePluginOptions, redisStoreOptionsSchema } from './options.js';
export { plugin, plugins } from './plugin.js';
export {
  createRedisStore,
  DEFAULT_REDIS_PREFIX,
  DEFAULT_REDIS_URL,
  RedisStore,
  type RedisStoreOptions,
} from './redis-store.js';
