import { randomBytes } from 'node:crypto';
import type { AuthProvider, ConnectionFactory, Logger } from '@tributary/core';
import { ErrInvalidArgument } from '@tributary/core';
import type { MetricsRegistry } from '@tributary/metrics';
import {
  type CollectionsFilter,
  type CollectionsSpec,
  parseCollectionsOption,
} from './collections/collections-option.js';

/** Options with cbdatasource's names (camelCased) and defaults (DefaultBucketDataSourceOptions). */
export interface BucketDataSourceOptions {
  /** DCP connection name (DCP_OPEN key). Default: `tributary:<random>`. */
  name?: string;
  /** Backoff between cluster-manager attempts: factor 1.5, 100 ms initial, 1 s max. */
  clusterManagerBackoffFactor?: number;
  clusterManagerSleepInitMs?: number;
  clusterManagerSleepMaxMs?: number;
  /** Backoff between data-node (re)connections and vbucket re-requests: factor 1.5, 100 ms, 1 s. */
  dataManagerBackoffFactor?: number;
  dataManagerSleepInitMs?: number;
  dataManagerSleepMaxMs?: number;
  /** DCP flow-control window per connection (`connection_buffer_size`); 0 disables flow control. Default 20,000,000. */
  feedBufferSizeBytes?: number;
  /** Send BUFFER_ACKNOWLEDGEMENT once this fraction of the window is finished by the receiver. Default 0.2. */
  feedBufferAckThreshold?: number;
  /** Per-vbucket end seqno (backups); default: stream forever. */
  seqEnd?: ReadonlyMap<number, number> | Readonly<Record<number, number>>;
  /** No traffic for this long ⇒ send a NOOP; still nothing for as long again ⇒ drop and reconnect. Default 30,000. */
  pingTimeoutMs?: number;
  /** DCP `set_noop_interval` in seconds (server NOOPs we answer). Default 120, as cbdatasource. */
  noopIntervalSeconds?: number;
  /** Ask for extended attributes (HELLO XATTR + DCP_OPEN include-xattrs); `req.xattrs` is then filled. Default false. */
  includeXAttrs?: boolean;
  /**
   * Ask for snappy-compressed values (HELLO Snappy + DCP control `force_value_compression`): less
   * on the network, more CPU at both ends. `req.value` is decompressed either way; `req.datatype`
   * keeps the 0x02 bit. A server that refuses the control still sends what it has. Default false.
   */
  compression?: boolean;
  /**
   * Collection-aware streaming (HELLO Collections): keys arrive without their LEB128 prefix, with
   * `req.collectionId`, `req.scope` and `req.collection`; `collectionEvent` / `seqnoAdvanced`
   * receiver calls follow the manifest. `[]` or `{}` streams every collection; hex ids (`['8']`,
   * or `{ ids }`) filter each stream to them; `{ scope }` to a scope's collections (also ones
   * created later); `{ names: ['scope.collection', ...] }` (or `{ scope, names }`) to those by name,
   * following drops and re-creations (see collections/collections-tracker.ts). A server that does
   * not agree to collections fails the bootstrap (TRIB_DATASOURCE_BOOTSTRAP). Default: off.
   */
  collections?: readonly string[] | CollectionsFilter;
  /** How often each data-node connection asks GET_ALL_VB_SEQNOS for lag stats; 0 disables. Default 2,000. */
  seqnoPollIntervalMs?: number;
  /** Timeout for one TCP/TLS connect and for each bootstrap reply. Default 10,000. */
  connectTimeoutMs?: number;
  /** Timeout for one cluster-map HTTP request. Default 10,000. */
  httpTimeoutMs?: number;
  /** Follow the streaming config endpoint (/pools/<pool>/bs/<bucket>) for pushed map changes. Default true. */
  streamingConfig?: boolean;
  /** Connection factories; default tcp, and tls for https / couchbases URLs (needs `tls` options or a factory). */
  connectionFactory?: ConnectionFactory;
  tlsConnectionFactory?: ConnectionFactory;
  /** TLS settings used to build the default tls factory (`ca`, `rejectUnauthorized`, ...). */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; rejectUnauthorized?: boolean; servername?: string };
  logger?: Logger;
  metrics?: MetricsRegistry;
}

/** `auth` of createBucketDataSource: credentials, optionally with the auth plugin and SASL mechanism to use. */
export interface DataSourceAuth {
  username: string;
  password: string;
  /** Auth plugin (default: SCRAM from @tributary/auth-scram, PLAIN from @tributary/auth-plain as fallback). */
  provider?: AuthProvider;
  /** Force one SASL mechanism (e.g. 'PLAIN'); default: the strongest both sides offer. */
  mechanism?: string;
}

export interface ResolvedOptions {
  name: string;
  clusterManagerBackoffFactor: number;
  clusterManagerSleepInitMs: number;
  clusterManagerSleepMaxMs: number;
  dataManagerBackoffFactor: number;
  dataManagerSleepInitMs: number;
  dataManagerSleepMaxMs: number;
  feedBufferSizeBytes: number;
  feedBufferAckThreshold: number;
  seqEnd: Map<number, number>;
  pingTimeoutMs: number;
  noopIntervalSeconds: number;
  includeXAttrs: boolean;
  compression: boolean;
  collections: CollectionsSpec | undefined;
  seqnoPollIntervalMs: number;
  connectTimeoutMs: number;
  httpTimeoutMs: number;
  streamingConfig: boolean;
}

export const defaultBucketDataSourceOptions = Object.freeze({
  clusterManagerBackoffFactor: 1.5,
  clusterManagerSleepInitMs: 100,
  clusterManagerSleepMaxMs: 1000,
  dataManagerBackoffFactor: 1.5,
  dataManagerSleepInitMs: 100,
  dataManagerSleepMaxMs: 1000,
  feedBufferSizeBytes: 20_000_000,
  feedBufferAckThreshold: 0.2,
  pingTimeoutMs: 30_000,
  noopIntervalSeconds: 120,
  includeXAttrs: false,
  compression: false,
  seqnoPollIntervalMs: 2_000,
  connectTimeoutMs: 10_000,
  httpTimeoutMs: 10_000,
  streamingConfig: true,
});

function num(name: string, v: unknown, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw ErrInvalidArgument(`options.${name}`, `must be a number in [${min}, ${max}]`);
  }
  return v;
}

export function resolveOptions(o: BucketDataSourceOptions = {}): ResolvedOptions {
  const d = defaultBucketDataSourceOptions;
  const seqEnd = new Map<number, number>();
  if (o.seqEnd) {
    const entries =
      o.seqEnd instanceof Map
        ? [...o.seqEnd.entries()]
        : Object.entries(o.seqEnd).map(([k, v]) => [Number(k), v]);
    for (const [vb, s] of entries) {
      if (!Number.isInteger(vb) || vb < 0 || vb > 0xffff || !Number.isSafeInteger(s) || s < 0) {
        throw ErrInvalidArgument('options.seqEnd', `bad entry ${vb} → ${s}`);
      }
      seqEnd.set(vb as number, s as number);
    }
  }
  const r: ResolvedOptions = {
    name: o.name ?? `tributary:${randomBytes(8).toString('hex')}`,
    clusterManagerBackoffFactor: num(
      'clusterManagerBackoffFactor',
      o.clusterManagerBackoffFactor,
      d.clusterManagerBackoffFactor,
      1,
    ),
    clusterManagerSleepInitMs: num(
      'clusterManagerSleepInitMs',
      o.clusterManagerSleepInitMs,
      d.clusterManagerSleepInitMs,
      0,
    ),
    clusterManagerSleepMaxMs: num(
      'clusterManagerSleepMaxMs',
      o.clusterManagerSleepMaxMs,
      d.clusterManagerSleepMaxMs,
      0,
    ),
    dataManagerBackoffFactor: num(
      'dataManagerBackoffFactor',
      o.dataManagerBackoffFactor,
      d.dataManagerBackoffFactor,
      1,
    ),
    dataManagerSleepInitMs: num(
      'dataManagerSleepInitMs',
      o.dataManagerSleepInitMs,
      d.dataManagerSleepInitMs,
      0,
    ),
    dataManagerSleepMaxMs: num('dataManagerSleepMaxMs', o.dataManagerSleepMaxMs, d.dataManagerSleepMaxMs, 0),
    feedBufferSizeBytes: num(
      'feedBufferSizeBytes',
      o.feedBufferSizeBytes,
      d.feedBufferSizeBytes,
      0,
      0xffffffff,
    ),
    feedBufferAckThreshold: num(
      'feedBufferAckThreshold',
      o.feedBufferAckThreshold,
      d.feedBufferAckThreshold,
      0,
      1,
    ),
    seqEnd,
    pingTimeoutMs: num('pingTimeoutMs', o.pingTimeoutMs || undefined, d.pingTimeoutMs, 10),
    noopIntervalSeconds: num('noopIntervalSeconds', o.noopIntervalSeconds, d.noopIntervalSeconds, 0.1),
    includeXAttrs: o.includeXAttrs ?? d.includeXAttrs,
    compression: o.compression ?? d.compression,
    collections: parseCollectionsOption(o.collections),
    seqnoPollIntervalMs: num('seqnoPollIntervalMs', o.seqnoPollIntervalMs, d.seqnoPollIntervalMs, 0),
    connectTimeoutMs: num('connectTimeoutMs', o.connectTimeoutMs, d.connectTimeoutMs, 1),
    httpTimeoutMs: num('httpTimeoutMs', o.httpTimeoutMs, d.httpTimeoutMs, 1),
    streamingConfig: o.streamingConfig ?? d.streamingConfig,
  };
  if (Buffer.byteLength(r.name) > 200) throw ErrInvalidArgument('options.name', 'at most 200 bytes');
  if (r.clusterManagerSleepMaxMs < r.clusterManagerSleepInitMs)
    r.clusterManagerSleepMaxMs = r.clusterManagerSleepInitMs;
  if (r.dataManagerSleepMaxMs < r.dataManagerSleepInitMs) r.dataManagerSleepMaxMs = r.dataManagerSleepInitMs;
  return r;
}
