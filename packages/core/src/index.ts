export { PLUGIN_KINDS, SUPPORTED_API_VERSIONS } from './api-versions.js';
export { type BackoffOptions, backoffLoop } from './backoff.js';
export type {
  AuthProvider,
  CredentialSource,
  SaslClient,
  SaslClientOptions,
  SaslServer,
  SaslServerOptions,
  SaslServerStep,
  ScramCredential,
  ScramHash,
  UserCredential,
} from './contracts/auth.js';
export type {
  Connection,
  ConnectionFactory,
  ConnectOptions,
  Endpoint,
  Listener,
} from './contracts/connection-factory.js';
export type { CounterLike, GaugeLike, HistogramLike, MetricsScope } from './contracts/metrics.js';
export type { BatchOp, ScanOptions, Store, StoreEntry, WatchOptions } from './contracts/store.js';
export {
  type DeriveCredentialOptions,
  deriveCredential,
  nodeHashName,
  scramKeys,
  staticCredentials,
  verifyPassword,
} from './credentials.js';
export {
  defineError,
  ErrAborted,
  ErrAuthFailed,
  ErrAuthMechanism,
  ErrConnectFailed,
  ErrConnectRefused,
  ErrConnectTimeout,
  ErrHttpHandlerFailed,
  ErrHttpTooManyConnections,
  ErrInvalidArgument,
  type ErrorFactory,
  ErrPluginApiVersion,
  ErrPluginDuplicate,
  ErrPluginInvalid,
  ErrPluginKind,
  ErrPluginLoad,
  ErrPluginNotFound,
  ErrPluginOptions,
  ErrStoreClosed,
  ErrStoreUnavailable,
  ErrStoreWatchOverflow,
  isTributaryError,
  TributaryError,
  type TributaryErrorOptions,
} from './errors.js';
export {
  type ConnectionSlots,
  connectionSlots,
  FD_HEADROOM,
  openFileCount,
  openFileLimit,
  REFUSAL_SLOTS,
  type SlotPool,
} from './fd-limit.js';
export { createGuardedHttpServer, type HttpGuard, type HttpGuardOptions } from './http-guard.js';
export {
  type CreateLoggerOptions,
  componentLogger,
  createLogger,
  type Logger,
  silentLogger,
} from './logger.js';
export { nullMetrics } from './null-metrics.js';
export {
  definePlugin,
  isPluginManifest,
  PLUGIN_BRAND,
  type PluginContext,
  type PluginDefinition,
  type PluginKind,
  type PluginKindMap,
  type PluginManifest,
} from './plugin-manifest.js';
export { type CreateRegistryOptions, createRegistry, type PluginRegistry } from './registry.js';
export { type RepeatLevel, RepeatLog, type RepeatLogOptions } from './repeat-log.js';
export { connectWith, findTlsRejection, formatEndpoint, listenOn, mapConnectError } from './socket-kit.js';
export { decodeKeyList, encodeKeyList } from './store-kit/key-list.js';
export {
  asBuffer,
  type CheckedOp,
  checkKey,
  checkOps,
  checkValue,
  collapseOps,
  hasPrefix,
  MAX_KEY_BYTES,
  prefixEnd,
  type Range,
  toRange,
} from './store-kit/keys.js';
export { type PageSource, pagedScan } from './store-kit/paged-scan.js';
export {
  type MetricsInput,
  metricsScope,
  StoreCounters,
  type StoreStats,
} from './store-kit/store-metrics.js';
export { WatchHub, type WatchIterable } from './store-kit/watch-hub.js';
export { optionsParser, parseOptions } from './validate.js';
