export type { MetricsInput, StoreStats, WatchIterable } from '@tributary/core';
export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from './errors.js';
export {
  type PostgresStorePluginOptions,
  parsePostgresStoreOptions,
  postgresStoreOptionsSchema,
} from './options.js';
export { plugin, plugins } from './plugin.js';
export {
  createPostgresStore,
  DEFAULT_DATABASE_URL,
  DEFAULT_TABLE,
  decodeNotifyPayload,
  encodeNotifyPayloads,
  MIGRATIONS_TABLE,
  PostgresStore,
  type PostgresStoreOptions,
  SCHEMA_VERSION,
} from './postgres-store.js';
