import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { createPlainProvider } from '@tributary/auth-plain';
import { createScramProvider } from '@tributary/auth-scram';
import { createTcpFactory } from '@tributary/connection-tcp';
import {
  type AuthProvider,
  type ConnectionFactory,
  componentLogger,
  type HttpGuardOptions,
  type Listener,
  type Logger,
  RepeatLog,
  type SaslServer,
  type Store,
  staticCredentials,
} from '@tributary/core';
import { createMetrics, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import { createMemoryStore } from '@tributary/store-memory';
import { Bucket, isJsonValue, KvStatus } from './bucket.js';
import {
  type ConfigBucket,
  type ConfigNode,
  type ConfigView,
  nodeServices,
  terseBucketConfig,
} from './bucket-config.js';
import { internalKeyStr } from './collections/doc-key.js';
import { ManifestError } from './collections/manifest.js';
import {
  ErrClusterClosed,
  ErrClusterCollections,
  ErrClusterKeyExists,
  ErrClusterKeyNotFound,
  ErrClusterNoBucket,
  ErrClusterNode,
  ErrClusterTopology,
  ErrClusterUnknownCollection,
  ErrClusterVbucketUnavailable,
} from './errors.js';
import type { ClusterCore, SessionHandle, SessionStats, VbRole } from './internal/context.js';
import { SyncWrites } from './internal/durability.js';
import { Replication } from './internal/replication.js';
import { Session } from './internal/session.js';
import { MgmtServer } from './mgmt-server.js';
import type { Item } from './vbucket.js';

export interface BucketSpec {
  name: string;
  /** 'couchbase' (default) persists to the store; 'ephemeral' keeps data in memory only (lost on node restart). */
  type?: 'couchbase' | 'ephemeral';
  /** RAM quota reported in the config (MiB). */
  ramQuotaMb?: number;
  /** Keep the bucket UUID stable across runs (random by default, persisted in the store). */
  uuid?: string;
}

export interface TlsListenOptions {
  /** A ready TLS connection factory (e.g. `createTlsFactory(...)` from @tributary/connection-tls). */
  factory?: ConnectionFactory;
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  /** kvSSL port of node 0 (others +1 each); 0 = free ports. */
  basePort?: number;
  /** HTTPS cluster-manager port of node 0 (others +1 each; ns_server's 18091); 0 = free ports. */
  mgmtBasePort?: number;
}

export interface ClusterOptions {
  /** Number of data nodes (default 1). */
  nodes?: number;
  /** vbuckets per bucket (default 1024, as on-premises Couchbase). */
  vbuckets?: number;
  buckets: (BucketSpec | string)[];
  /** Users and passwords (full access to every bucket), for SASL and REST Basic auth. */
  users: Record<string, string>;
  /** Host to bind and advertise (default 127.0.0.1). */
  host?: string;
  /** Management (REST) port of node 0, others +1 each; 0 (default) = free ports. */
  basePort?: number;
  /** Data (KV/DCP) port of node 0, others +1 each; 0 (default) = free ports. */
  kvBasePort?: number;
  /** Replicas in the vbucket map (default 1 when there is more than one node). */
  replicas?: number;
  /** Offer PLAIN SASL on plain TCP too (older DCP clients only speak PLAIN). */
  allowInsecurePlain?: boolean;
  /** Where vbucket data persists (memory store by default). */
  store?: Store;
  /** Connection factory plugin the data nodes listen through (TCP by default). */
  connectionFactory?: ConnectionFactory;
  /** Also listen with TLS (kvSSL ports). */
  tls?: TlsListenOptions;
  /** A noop-enabled DCP consumer silent this long is dropped (default 360 000 ms, kv_engine's dcp_idle_timeout). */
  dcpIdleTimeoutMs?: number;
  /**
   * DCP streams one connection may hold (default 65 536). One more STREAM_REQ is refused with
   * ENOMEM (0x82), kv_engine's answer when a stream would not fit; the connection stays open.
   */
  dcpMaxStreams?: number;
  /**
   * A connection that has not authenticated this long after connecting (silent, or stopped
   * halfway through SASL) is closed and counted in `auth_timeouts` (default 10 000 ms).
   */
  authTimeoutMs?: number;
  /**
   * The cluster-manager REST ports' timeouts and connection cap (each node's port): headers within
   * `headersTimeoutMs` (10 s) of connecting, the request within `requestTimeoutMs` (30 s), idle
   * keep-alive closed after `keepAliveTimeoutMs` (5 s), a silent connection after `idleTimeoutMs`
   * (60 s; streaming config is exempt), at most `maxConnections` (1,024, within the process's
   * file-descriptor limit) at once: past it 503. Counted in the `cluster_rest` metrics group.
   */
  rest?: RestLimits;
  /**
   * Largest frame a data-node connection may send before SASL succeeds (default 16 KiB: HELLO,
   * SASL and the other commands allowed then are small). A bigger one closes the connection,
   * counted in `preauth_frames_refused`; once authenticated the limit is 21 MiB, as kv_engine.
   */
  preauthMaxFrameBytes?: number;
  /** Expiry pager period (default 1000 ms). */
  expiryPagerIntervalMs?: number;
  /** Items per checkpoint (default 10 000). */
  checkpointMaxItems?: number;
  /** Superseded versions kept for failover loss (default 1024 seqnos). */
  historyTail?: number;
  /** SCRAM iterations for the derived credentials (default 4096). */
  scramIterations?: number;
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** Background failures (persistence); logged when not given. */
  onError?: (err: unknown) => void;
}

/** Timeouts and connection cap of a cluster-manager REST port (see `ClusterOptions.rest`). */
export type RestLimits = Pick<
  HttpGuardOptions,
  'maxConnections' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'idleTimeoutMs'
>;

export interface ClusterNodeInfo {
  index: number;
  kvPort: number;
  kvSslPort?: number;
  mgmtPort: number;
  /** HTTPS cluster-manager port, when the cluster listens with TLS. */
  mgmtSslPort?: number;
  running: boolean;
  /** False once failed over, until a rebalance adds it back. */
  inCluster: boolean;
}

export type DocValue = string | Uint8Array | Record<string, unknown> | unknown[] | number | boolean | null;

export interface WriteOptions {
  flags?: number;
  /** Seconds (≤ 30 days relative) or absolute Unix time, as memcached. */
  expiry?: number;
  cas?: bigint;
  datatype?: number;
}

export interface MutationResult {
  cas: bigint;
  seqno: number;
  vbucket: number;
  vbucketUuid: bigint;
}

export interface GetResult {
  value: Buffer;
  cas: bigint;
  flags: number;
  expiry: number;
  datatype: number;
  revSeqno: number;
  seqno: number;
  vbucket: number;
}

/** KV on one collection of a bucket (`bucket(name)` is the default collection's). */
export interface CollectionHandle {
  upsert(key: string | Uint8Array, value: DocValue, options?: WriteOptions): MutationResult;
  insert(key: string | Uint8Array, value: DocValue, options?: WriteOptions): MutationResult;
  replace(key: string | Uint8Array, value: DocValue, options?: WriteOptions): MutationResult;
  remove(key: string | Uint8Array, options?: { cas?: bigint }): MutationResult;
  get(key: string | Uint8Array): GetResult | undefined;
  touch(key: string | Uint8Array, expiry: number): MutationResult;
}

/** A scope and its collections, as the manifest has them. */
export interface ScopeInfo {
  name: string;
  id: number;
  collections: { name: string; id: number; maxTtl: number }[];
}

export interface BucketHandle extends CollectionHandle {
  readonly name: string;
  readonly uuid: string;
  /**
   * KV on a named collection, `"scope.collection"`. Each call looks the collection up, so a
   * dropped one throws TRIB_CLUSTER_UNKNOWN_COLLECTION.
   */
  collection(path: string): CollectionHandle;
  /** Creates a scope; returns the new manifest uid (as REST POST .../scopes). */
  createScope(name: string): number;
  /** Creates a collection (`maxTtl` seconds caps every document's expiry); returns the manifest uid. */
  createCollection(scope: string, name: string, options?: { maxTtl?: number }): number;
  /** Drops a collection: its documents are gone at once and purged in the background. */
  dropCollection(scope: string, name: string): number;
  /** Drops a scope and its collections. */
  dropScope(name: string): number;
  /** Flushes a collection: a new begin event; every document written before it is gone. */
  flushCollection(scope: string, name: string): number;
  /** The current manifest: uid and scopes. */
  manifest(): { uid: number; scopes: ScopeInfo[] };
  /** Resolves once the documents of dropped or flushed collections are purged (memory and store). */
  collectionsPurged(): Promise<void>;
  /** High seqno of every vbucket, by vbucket id. */
  highSeqnos(): number[];
  /** Failover log of a vbucket, newest first. */
  failoverLog(vb: number): { vbucketUuid: bigint; seqno: number }[];
  /** The vbucket a key hashes to. */
  vbucketOf(key: string | Uint8Array): number;
  /** Turns due documents into expirations now (the pager also runs on its own). */
  runExpiryPager(): number;
  /** Resolves once every write so far is in the store. */
  flush(): Promise<void>;
}

export interface RebalancePlan {
  /** Node indexes that serve data afterwards (default: every running node). */
  nodes?: number[];
  /** Explicit moves instead of an even spread: vbucket → new active node. */
  moves?: { vbucket: number; to: number }[];
}

export interface Cluster {
  readonly managementUrl: string;
  readonly nodes: readonly ClusterNodeInfo[];
  readonly host: string;
  /** Config revision (rises with every topology change). */
  readonly rev: number;
  bucket(name: string): BucketHandle;
  failover(node: number, options?: { loseLast?: number }): Promise<void>;
  rebalance(plan?: RebalancePlan): Promise<void>;
  stopNode(node: number): Promise<void>;
  startNode(node: number): Promise<void>;
  /** vbucket map as cluster node indexes: [active, replica...] per vbucket (-1 none). */
  vbucketMap(): number[][];
  /**
   * Holds replication to these nodes (default: every node) back, so replicas lag: GET_REPLICA
   * and replica DCP streams see the old state, durable writes wait, and a failover loses what
   * the promoted replica has not received. `resumeReplication` lets them catch up.
   */
  pauseReplication(nodes?: number[]): void;
  resumeReplication(nodes?: number[]): void;
  stats(): Record<string, unknown>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Couchbase's key → vbucket: CRC32 of the key, bits 16..30, modulo the vbucket count. */
export function vbucketOfKey(key: string | Uint8Array, numVbuckets: number): number {
  const b = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return ((crc32(b) >>> 16) & 0x7fff) % numVbuckets;
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** The collections manifest as ns_server serves it (only the default scope and collection exist). */
const DEFAULT_MANIFEST = {
  uid: '0',
  scopes: [
    { name: '_default', uid: '0', collections: [{ name: '_default', uid: '0', maxTTL: 0, history: false }] },
  ],
};

class DataNode implements ConfigNode {
  kvPort = 0;
  kvSslPort: number | undefined;
  mgmtPort = 0;
  mgmtSslPort: number | undefined;
  running = false;
  inCluster = true;
  startedAt = Date.now();
  readonly sessions = new Set<SessionHandle>();
  listeners: Listener[] = [];
  mgmt: MgmtServer | undefined;
  constructor(
    readonly index: number,
    readonly host: string,
  ) {}
}

class EmbeddedCluster implements Cluster, ClusterCore {
  readonly host: string;
  readonly numVbuckets: number;
  readonly allowInsecurePlain: boolean;
  readonly dcpIdleTimeoutMs: number;
  readonly dcpMaxStreams: number;
  readonly authTimeoutMs: number;
  readonly sessionStats: SessionStats;
  readonly repeats: RepeatLog;
  readonly preauthMaxFrameBytes: number;
  readonly buckets = new Map<string, Bucket>();
  readonly #nodes: DataNode[];
  #vbMap: number[][] = [];
  #numReplicas: number;
  rev = 1;
  revEpoch = 1;
  readonly clusterUuid = randomBytes(16).toString('hex');
  readonly #log: Logger;
  readonly #metrics: MetricsRegistry;
  readonly #group: MetricsGroup;
  readonly #store: Store;
  readonly #ownStore: boolean;
  readonly #scram: AuthProvider;
  readonly #plain: AuthProvider;
  readonly #credentials: ReturnType<typeof staticCredentials>;
  readonly #factory: ConnectionFactory;
  #tlsFactory: ConnectionFactory | undefined;
  readonly #configCache = new Map<string, string>();
  #closed = false;
  #topologyLock: Promise<void> = Promise.resolve();
  readonly #handles = new Map<string, BucketHandle>();
  readonly replication: Replication;
  readonly syncWrites: SyncWrites;

  constructor(readonly o: ClusterOptions) {
    const n = o.nodes ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 64) throw ErrClusterTopology(`nodes must be 1..64, got ${n}`);
    this.numVbuckets = o.vbuckets ?? 1024;
    if (!Number.isInteger(this.numVbuckets) || this.numVbuckets < 1 || this.numVbuckets > 65535)
      throw ErrClusterTopology(`vbuckets must be 1..65535, got ${this.numVbuckets}`);
    this.host = o.host ?? '127.0.0.1';
    this.allowInsecurePlain = o.allowInsecurePlain ?? false;
    this.dcpIdleTimeoutMs = o.dcpIdleTimeoutMs ?? 360_000;
    this.dcpMaxStreams = o.dcpMaxStreams ?? 65_536;
    if (!Number.isInteger(this.dcpMaxStreams) || this.dcpMaxStreams < 1)
      throw ErrClusterTopology(`dcpMaxStreams must be a positive integer, got ${this.dcpMaxStreams}`);
    this.preauthMaxFrameBytes = o.preauthMaxFrameBytes ?? 16 * 1024;
    if (!Number.isSafeInteger(this.preauthMaxFrameBytes) || this.preauthMaxFrameBytes < 256)
      throw ErrClusterTopology(
        `preauthMaxFrameBytes must be an integer >= 256, got ${this.preauthMaxFrameBytes}`,
      );
    this.authTimeoutMs = o.authTimeoutMs ?? 10_000;
    if (!(this.authTimeoutMs > 0) || !Number.isFinite(this.authTimeoutMs))
      throw ErrClusterTopology(`authTimeoutMs must be a positive number, got ${this.authTimeoutMs}`);
    this.#log = componentLogger(o.logger, 'cluster');
    this.#metrics = o.metrics ?? createMetrics();
    const g = this.#metrics.group('cluster');
    this.#group = g;
    this.sessionStats = {
      connections: g.gauge('connections', 'Open client connections to the data nodes'),
      requests: g.counter('requests', 'Memcached requests served'),
      malformed: g.counter('malformed_frames', 'Malformed frames (each closed its connection)'),
      authFailures: g.counter('auth_failures', 'Failed SASL authentications'),
      authTimeouts: g.counter('auth_timeouts', 'Connections closed for not authenticating in time'),
      dcpMessages: g.counter('dcp_messages', 'DCP messages sent to consumers'),
      dcpBytes: g.counter('dcp_sent_bytes', 'DCP bytes sent to consumers'),
      dcpStreams: g.gauge('dcp_streams', 'Open DCP streams'),
      dcpStalls: g.counter(
        'dcp_flow_control_stalls',
        'Times a DCP stream paused for its consumer’s buffer acks',
      ),
      dcpIdleDrops: g.counter('dcp_idle_drops', 'DCP connections dropped for missing noop replies'),
      dcpStreamsRefused: g.counter('dcp_streams_refused', 'DCP stream requests refused (dcpMaxStreams)'),
      preauthFramesRefused: g.counter(
        'preauth_frames_refused',
        'Connections closed for a frame over preauthMaxFrameBytes before SASL succeeded',
      ),
      connectionsRefused: g.counter(
        'connections_refused',
        'Data-node connections closed at once: no slot left within the file-descriptor limit',
      ),
    };
    this.repeats = new RepeatLog(this.#log);
    this.#ownStore = !o.store;
    this.#store = o.store ?? createMemoryStore();
    this.#credentials = staticCredentials(o.users, { iterations: o.scramIterations ?? 4096 });
    this.#scram = createScramProvider();
    this.#plain = createPlainProvider({ allowInsecurePlain: this.allowInsecurePlain });
    this.#factory = o.connectionFactory ?? createTcpFactory({ logger: o.logger });
    this.#nodes = Array.from({ length: n }, (_, i) => new DataNode(i, this.host));
    this.#numReplicas = Math.min(o.replicas ?? (n > 1 ? 1 : 0), n - 1);
    this.#vbMap = this.#spread(this.#nodes.map((d) => d.index));
    const chain = (vb: number) => this.#vbMap[vb] ?? [];
    this.replication = new Replication({
      chain,
      nodeRunning: (n) => this.#nodes[n]?.running === true && this.#nodes[n].inCluster,
      replicated: (b, vb, n) => this.syncWrites.replicated(b, vb, n),
    });
    this.syncWrites = new SyncWrites({
      chain,
      kick: (b, vb) => this.replication.schedule(b, vb),
      onError: (err) =>
        (this.o.onError ?? ((e: unknown) => this.#log.error({ err: e }, 'durable write failed')))(err),
    });
  }

  // ---- lifecycle --------------------------------------------------------------------------

  async start(): Promise<void> {
    const onError = this.o.onError ?? ((err: unknown) => this.#log.error({ err }, 'background failure'));
    for (const spec of this.o.buckets) {
      const s: BucketSpec = typeof spec === 'string' ? { name: spec } : spec;
      const uuid = await this.#bucketUuid(s.name, s.uuid);
      const b = new Bucket({
        name: s.name,
        uuid,
        numVbuckets: this.numVbuckets,
        store: this.#store,
        logger: this.#log,
        onError,
        expiryPagerIntervalMs: this.o.expiryPagerIntervalMs,
        checkpointMaxItems: this.o.checkpointMaxItems,
        historyTail: this.o.historyTail,
        ramQuotaMb: s.ramQuotaMb,
        type: s.type,
        replicaNumber: this.#numReplicas,
        canExpire: (vb) => this.#activeRunning(vb),
      });
      await b.open();
      // A manifest change is a new config revision (collectionsManifestUid in it), pushed to
      // streaming and duplex clients; a purge drops the same documents from the replica copies.
      b.collections.onChange = () => {
        if (!this.#closed) this.#bumpRev();
      };
      b.collections.onPurge = (vb, gone) => this.replication.forget(b, vb, gone);
      this.buckets.set(s.name, b);
      this.replication.attach(b);
    }
    if (this.o.tls) {
      this.#tlsFactory = this.o.tls.factory;
      if (!this.#tlsFactory) {
        const { createTlsFactory } = await import('@tributary/connection-tls');
        this.#tlsFactory = createTlsFactory({
          cert: this.o.tls.cert,
          key: this.o.tls.key,
          ca: this.o.tls.ca,
          logger: this.o.logger,
        });
      }
    }
    for (const node of this.#nodes) {
      if (this.o.basePort) node.mgmtPort = this.o.basePort + node.index;
      if (this.o.kvBasePort) node.kvPort = this.o.kvBasePort + node.index;
      if (this.o.tls?.basePort) node.kvSslPort = this.o.tls.basePort + node.index;
      if (this.o.tls?.mgmtBasePort) node.mgmtSslPort = this.o.tls.mgmtBasePort + node.index;
      await this.#listen(node);
    }
  }

  async #bucketUuid(name: string, given?: string): Promise<string> {
    const key = Buffer.concat([Buffer.from('c\0'), Buffer.from(name), Buffer.from('\0B')]);
    const stored = await this.#store.get(key);
    if (stored) return JSON.parse(Buffer.from(stored).toString('utf8')).uuid as string;
    const uuid = given ?? randomBytes(16).toString('hex');
    await this.#store.batch([{ type: 'put', key, value: Buffer.from(JSON.stringify({ uuid })) }]);
    return uuid;
  }

  async #listen(node: DataNode): Promise<void> {
    try {
      await this.#bind(node);
    } catch (err) {
      // A port already taken (REST after KV bound, say): release what did bind, or the listeners
      // keep the process alive after startCluster rejected.
      await this.#unlisten(node).catch((e: unknown) =>
        this.#log.debug({ err: e }, 'unlisten after failed start'),
      );
      throw err;
    }
  }

  /** Opens a node's KV, kvSSL, REST and HTTPS listeners, each recorded on `node` as it opens. */
  async #bind(node: DataNode): Promise<void> {
    const ctx = {
      index: node.index,
      cluster: this as ClusterCore,
      log: this.#log.child({ node: node.index }),
    };
    const kv = await this.#factory.listen(
      { host: this.host, port: node.kvPort },
      (conn) => new Session(conn, ctx),
    );
    node.listeners = [kv];
    node.kvPort = kv.address().port;
    if (this.#tlsFactory) {
      const ssl = await this.#tlsFactory.listen(
        { host: this.host, port: node.kvSslPort ?? 0 },
        (conn) => new Session(conn, ctx),
      );
      node.listeners.push(ssl);
      node.kvSslPort = ssl.address().port;
    }
    const mgmt = new MgmtServer(node.index, {
      view: () => this.#view(),
      buckets: () => this.#configBuckets(),
      users: this.o.users,
      hostFor: (i, local) => this.#advertised(i, local),
      manifest: (name) => this.buckets.get(name)?.collections.manifest.toJSON() ?? DEFAULT_MANIFEST,
      collections: (name) => this.buckets.get(name)?.collections,
      log: ctx.log,
      limits: this.o.rest,
      metrics: this.#metrics.group('cluster_rest', { node: String(node.index) }),
    });
    node.mgmtPort = await mgmt.listen(this.host, node.mgmtPort);
    node.mgmt = mgmt;
    if (this.#tlsFactory) {
      // HTTPS: the same REST handler behind the TLS factory's listener (one TLS setup for KV and REST).
      const https = await this.#tlsFactory.listen({ host: this.host, port: node.mgmtSslPort ?? 0 }, (conn) =>
        mgmt.accept(conn),
      );
      node.listeners.push(https);
      node.mgmtSslPort = https.address().port;
    }
    node.running = true;
    node.startedAt = Date.now();
  }

  async #unlisten(node: DataNode): Promise<void> {
    node.running = false;
    for (const l of node.listeners) await l.close();
    node.listeners = [];
    for (const s of [...node.sessions]) s.destroy();
    node.sessions.clear();
    await node.mgmt?.close();
    node.mgmt = undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#topologyLock.catch(() => {});
    this.syncWrites.close();
    this.replication.close();
    for (const node of this.#nodes) if (node.running) await this.#unlisten(node);
    for (const b of this.buckets.values()) {
      b.close();
      await b.flush().catch((err) => this.#log.error({ err }, 'final flush failed'));
    }
    if (this.#ownStore) await this.#store.close();
    this.repeats.flush();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- ClusterCore ------------------------------------------------------------------------

  mechanisms(secure: boolean): string[] {
    const m = ['SCRAM-SHA512', 'SCRAM-SHA256', 'SCRAM-SHA1'];
    if (secure || this.allowInsecurePlain) m.push('PLAIN');
    return m;
  }

  saslServer(mechanism: string, secure: boolean): SaslServer | undefined {
    if (!this.mechanisms(secure).includes(mechanism)) return undefined;
    const p = mechanism === 'PLAIN' ? this.#plain : this.#scram;
    return p.createServer({ credentials: this.#credentials, secure });
  }

  role(node: number, vb: number): VbRole | undefined {
    const n = this.#nodes[node];
    if (!n?.running || !n.inCluster) return undefined;
    const row = this.#vbMap[vb];
    if (!row) return undefined;
    if (row[0] === node) return 'active';
    for (let i = 1; i < row.length; i++) if (row[i] === node) return 'replica';
    return undefined;
  }

  #activeRunning(vb: number): boolean {
    const a = this.#vbMap[vb]?.[0];
    return a !== undefined && a >= 0 && this.#nodes[a].running;
  }

  #advertised(node: number, local: string): string {
    void node;
    return WILDCARD.has(this.host) ? local : this.host;
  }

  clusterConfigJson(node: number, host: string): string {
    const key = `\0${node}\0${host}\0${this.rev}`;
    let s = this.#configCache.get(key);
    if (s) return s;
    // kv_engine's cluster_config_executor without a bucket: the cluster map ns_server pushed,
    // which holds nodesExt (every service port, TLS ones included) but no vBucketServerMap.
    const cfg = {
      ...nodeServices(this.#view(), {
        thisNode: node,
        hostFor: (n) => (n.index === node ? '$HOST' : this.#advertised(n.index, host)),
      }),
      revEpoch: this.revEpoch,
    };
    s = JSON.stringify(cfg).replaceAll('$HOST', host);
    this.#configCache.set(key, s);
    return s;
  }

  visibleSeqno(bucket: Bucket, vb: number, node: number): number {
    const v = bucket.vbuckets[vb];
    if (this.#vbMap[vb]?.[0] === node) return v.highSeqno;
    return this.replication.received(bucket, vb, node) ?? 0;
  }

  pauseReplication(nodes?: number[]): void {
    this.replication.pause(nodes ?? this.#nodes.map((n) => n.index));
  }

  resumeReplication(nodes?: number[]): void {
    this.replication.resume(nodes);
  }

  configJson(bucket: string, node: number, host: string): string {
    const key = `${bucket}\0${node}\0${host}\0${this.rev}`;
    let s = this.#configCache.get(key);
    if (s) return s;
    const b = this.buckets.get(bucket);
    if (!b) return '{}';
    // Served over CCCP: the answering node is "$HOST", which we replace by the address the
    // client reached (clients would do the same).
    const cfg = terseBucketConfig(this.#view(), this.#configBucket(b), {
      thisNode: node,
      hostFor: (n) => (n.index === node ? '$HOST' : this.#advertised(n.index, host)),
    });
    s = JSON.stringify(cfg).replaceAll('$HOST', host);
    if (this.#configCache.size > 256) this.#configCache.clear();
    this.#configCache.set(key, s);
    return s;
  }

  attach(node: number, s: SessionHandle): void {
    this.#nodes[node].sessions.add(s);
  }

  readonly #dcpNames = new Map<string, SessionHandle>();

  claimDcpName(node: number, bucket: string, name: string, s: SessionHandle): SessionHandle | undefined {
    const key = `${node}\0${bucket}\0${name}`;
    const prev = this.#dcpNames.get(key);
    this.#dcpNames.set(key, s);
    return prev;
  }

  releaseDcpName(node: number, bucket: string, name: string, s: SessionHandle): void {
    const key = `${node}\0${bucket}\0${name}`;
    if (this.#dcpNames.get(key) === s) this.#dcpNames.delete(key);
  }

  detach(node: number, s: SessionHandle): void {
    this.#nodes[node].sessions.delete(s);
  }

  #view(): ConfigView {
    return {
      rev: this.rev,
      revEpoch: this.revEpoch,
      clusterUuid: this.clusterUuid,
      nodes: this.#nodes,
      vbMap: this.#vbMap,
      numReplicas: this.#numReplicas,
    };
  }

  #configBucket(b: Bucket): ConfigBucket {
    return {
      name: b.name,
      uuid: b.uuid,
      ramQuotaMb: b.ramQuotaMb,
      replicaNumber: b.replicaNumber,
      numVbuckets: this.numVbuckets,
      manifestUid: b.collections.uid,
    };
  }

  #configBuckets(): ConfigBucket[] {
    return [...this.buckets.values()].map((b) => this.#configBucket(b));
  }

  // ---- topology ---------------------------------------------------------------------------

  get managementUrl(): string {
    const n = this.#nodes.find((d) => d.running) ?? this.#nodes[0];
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${WILDCARD.has(this.host) ? '127.0.0.1' : h}:${n.mgmtPort}`;
  }

  get nodes(): ClusterNodeInfo[] {
    return this.#nodes.map((n) => ({
      index: n.index,
      kvPort: n.kvPort,
      kvSslPort: n.kvSslPort,
      mgmtPort: n.mgmtPort,
      mgmtSslPort: n.mgmtSslPort,
      running: n.running,
      inCluster: n.inCluster,
    }));
  }

  vbucketMap(): number[][] {
    return this.#vbMap.map((r) => [...r]);
  }

  /** Even spread: vbucket i active on nodes[i mod k], replicas on the following nodes. */
  #spread(nodes: number[]): number[][] {
    const k = nodes.length;
    return Array.from({ length: this.numVbuckets }, (_, vb) => {
      const row = [k ? nodes[vb % k] : -1];
      for (let r = 1; r <= this.#numReplicas; r++) row.push(k > r ? nodes[(vb + r) % k] : -1);
      return row;
    });
  }

  #bumpRev(): void {
    this.rev++;
    this.#configCache.clear();
    for (const node of this.#nodes) {
      node.mgmt?.configChanged();
      for (const s of node.sessions) for (const b of this.buckets.keys()) s.configChanged(b);
    }
  }

  /** Ends DCP streams of `vb` on the given nodes (state changed). */
  #vbChanged(vb: number, nodes: Iterable<number>): void {
    for (const n of nodes) {
      const node = this.#nodes[n];
      if (!node) continue;
      for (const s of node.sessions) for (const b of this.buckets.keys()) s.vbucketChanged(b, vb);
    }
  }

  #serialize<T>(f: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(ErrClusterClosed('topology change'));
    const run = this.#topologyLock.then(f, f);
    this.#topologyLock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  #node(i: number): DataNode {
    const n = this.#nodes[i];
    if (!n) throw ErrClusterNode(i, 'no such node');
    return n;
  }

  failover(index: number, options: { loseLast?: number } = {}): Promise<void> {
    return this.#serialize(async () => {
      const node = this.#node(index);
      if (!node.inCluster) throw ErrClusterTopology(`node ${index} is already failed over`);
      const loseLast = options.loseLast ?? 0;
      if (!Number.isInteger(loseLast) || loseLast < 0)
        throw ErrClusterTopology('loseLast must be a non-negative integer');
      const tail = this.o.historyTail ?? 1024;
      if (loseLast > tail) throw ErrClusterTopology(`loseLast ${loseLast} exceeds historyTail ${tail}`);
      const survivors = this.#nodes.filter((n) => n.inCluster && n.index !== index).map((n) => n.index);
      if (!survivors.length) throw ErrClusterTopology('cannot fail over the last node');
      // Copies already on their way land first; a paused replica keeps its lag.
      this.replication.drain();
      node.inCluster = false;
      if (node.running) await this.#unlisten(node);
      this.replication.dropNode(index);
      for (let vb = 0; vb < this.numVbuckets; vb++) {
        const row = this.#vbMap[vb];
        const wasActive = row[0] === index;
        const touched = row.includes(index);
        if (!touched) continue;
        if (wasActive) {
          // Promote the first replica that is still in the cluster, else any survivor.
          const replica = row.slice(1).find((r) => r >= 0 && r !== index && survivors.includes(r));
          const active = replica ?? survivors[vb % survivors.length];
          const rest = row.slice(1).map((r) => (r === index || r === active ? -1 : r));
          this.#vbMap[vb] = [active, ...rest];
          this.syncWrites.abortVbucket(vb);
          for (const b of this.buckets.values()) {
            const v = b.vbuckets[vb];
            // The promoted replica has what it received (mutations not yet replicated are lost);
            // loseLast makes it that many seqnos behind at least. Without a replica, a survivor
            // takes the vbucket over with all of its data.
            const received =
              replica === undefined ? v.highSeqno : (this.replication.received(b, vb, replica) ?? 0);
            const keep = Math.min(received, v.highSeqno - loseLast);
            if (keep < v.highSeqno) {
              v.truncate(v.highSeqno - Math.max(0, keep));
              b.collections.rebuild([vb]);
            }
            v.closeCheckpoint();
            v.addFailoverEntry();
            b.locks.clearVbucket(vb);
            this.replication.reset(b, vb);
            b.markDirty(vb);
          }
          this.#vbChanged(
            vb,
            this.#vbMap[vb].filter((r) => r >= 0),
          );
        } else {
          this.#vbMap[vb] = row.map((r) => (r === index ? -1 : r));
        }
      }
      this.replication.refresh();
      this.#bumpRev();
      this.#log.info({ node: index, loseLast }, 'node failed over');
    });
  }

  rebalance(plan: RebalancePlan = {}): Promise<void> {
    return this.#serialize(async () => {
      const targets = plan.nodes ?? this.#nodes.filter((n) => n.running).map((n) => n.index);
      for (const t of targets) {
        const n = this.#node(t);
        if (!n.running) throw ErrClusterTopology(`node ${t} is not running`);
      }
      if (!targets.length) throw ErrClusterTopology('no nodes to rebalance onto');
      const old = this.#vbMap;
      let next: number[][];
      if (plan.moves) {
        next = old.map((r) => [...r]);
        for (const m of plan.moves) {
          if (!next[m.vbucket]) throw ErrClusterTopology(`no vbucket ${m.vbucket}`);
          if (!targets.includes(m.to)) throw ErrClusterTopology(`node ${m.to} is not a rebalance target`);
          const row = next[m.vbucket];
          const prevActive = row[0];
          const rest = row.slice(1).map((r) => (r === m.to ? prevActive : r));
          next[m.vbucket] = [m.to, ...rest];
        }
      } else {
        this.#numReplicas = Math.min(
          this.o.replicas ?? (targets.length > 1 ? 1 : 0),
          targets.length - 1,
          this.#numReplicas || 1,
        );
        next = this.#spread([...targets].sort((a, b) => a - b));
      }
      for (const n of this.#nodes)
        n.inCluster = targets.includes(n.index) || (n.inCluster && plan.moves !== undefined);
      this.#vbMap = next;
      for (let vb = 0; vb < this.numVbuckets; vb++) {
        const a = old[vb] ?? [];
        const b = next[vb];
        const changed = new Set<number>();
        for (const n of new Set([...a, ...b])) {
          if (n < 0) continue;
          const ra = a[0] === n ? 'active' : a.includes(n) ? 'replica' : undefined;
          const rb = b[0] === n ? 'active' : b.includes(n) ? 'replica' : undefined;
          if (ra !== rb) changed.add(n);
        }
        if (a[0] !== b[0]) {
          // Takeover: the new active opens a new failover entry; locks and prepares stay behind.
          this.syncWrites.abortVbucket(vb);
          for (const bucket of this.buckets.values()) {
            bucket.vbuckets[vb].closeCheckpoint();
            bucket.vbuckets[vb].addFailoverEntry();
            bucket.locks.clearVbucket(vb);
            bucket.markDirty(vb);
          }
        }
        if (changed.size) this.#vbChanged(vb, changed);
      }
      this.replication.prune();
      this.#bumpRev();
      this.#log.info({ nodes: targets }, 'rebalanced');
    });
  }

  stopNode(index: number): Promise<void> {
    return this.#serialize(async () => {
      const node = this.#node(index);
      if (!node.running) return;
      for (const b of this.buckets.values()) await b.flush();
      await this.#unlisten(node);
      this.replication.dropNode(index);
      // Its memory goes with it: locks, and durable writes waiting on its active vbuckets.
      for (let vb = 0; vb < this.numVbuckets; vb++) {
        if (this.#vbMap[vb][0] !== index) continue;
        this.syncWrites.abortVbucket(vb);
        for (const b of this.buckets.values()) b.locks.clearVbucket(vb);
      }
      this.#log.info({ node: index }, 'node stopped');
    });
  }

  startNode(index: number): Promise<void> {
    return this.#serialize(async () => {
      const node = this.#node(index);
      if (node.running) return;
      const active: number[] = [];
      for (let vb = 0; vb < this.numVbuckets; vb++) if (this.#vbMap[vb][0] === index) active.push(vb);
      // The node comes back with what its store has (an unclean restart: new failover entries);
      // ephemeral buckets come back empty.
      if (node.inCluster) for (const b of this.buckets.values()) await b.reload(active);
      await this.#listen(node);
      this.replication.scheduleAll();
      this.#bumpRev();
      this.#log.info({ node: index }, 'node started');
    });
  }

  // ---- bucket handles ---------------------------------------------------------------------

  bucket(name: string): BucketHandle {
    const b = this.buckets.get(name);
    if (!b) throw ErrClusterNoBucket(name);
    let h = this.#handles.get(name);
    if (!h) this.#handles.set(name, (h = this.#handle(b)));
    return h;
  }

  #handle(b: Bucket): BucketHandle {
    const kv = this.#collectionHandle(b, undefined);
    const change = (f: () => unknown): number => {
      if (this.#closed) throw ErrClusterClosed('collections change');
      try {
        f();
      } catch (err) {
        if (err instanceof ManifestError)
          throw ErrClusterCollections(err.message, { details: { status: err.status } });
        throw err;
      }
      return b.collections.uid;
    };
    const handles = new Map<string, CollectionHandle>();
    return {
      ...kv,
      name: b.name,
      uuid: b.uuid,
      collection: (path) => {
        let h = handles.get(path);
        if (!h) {
          if (handles.size >= 1024) handles.clear();
          handles.set(path, (h = this.#collectionHandle(b, path)));
        }
        return h;
      },
      createScope: (name) => change(() => b.collections.createScope(name)),
      createCollection: (scope, name, o = {}) =>
        change(() => b.collections.createCollection(scope, name, o.maxTtl ?? 0)),
      dropCollection: (scope, name) => change(() => b.collections.dropCollection(scope, name)),
      dropScope: (name) => change(() => b.collections.dropScope(name)),
      flushCollection: (scope, name) => change(() => b.collections.flushCollection(scope, name)),
      manifest: () => {
        const m = b.collections.manifest;
        return {
          uid: m.uid,
          scopes: [...m.scopes.values()].map((sc) => ({
            name: sc.name,
            id: sc.id,
            collections: [...sc.collections.values()].map((c) => ({
              name: c.name,
              id: c.id,
              maxTtl: c.maxTtl,
            })),
          })),
        };
      },
      collectionsPurged: async () => {
        await b.collections.whenPurged();
        await b.flush();
      },
      highSeqnos: () => b.vbuckets.map((v) => v.highSeqno),
      failoverLog: (vb) => (b.vbuckets[vb]?.failoverLog ?? []).map((e) => ({ ...e })),
      vbucketOf: (key) => vbucketOfKey(key, this.numVbuckets),
      runExpiryPager: () => b.runExpiryPager(),
      flush: () => b.flush(),
    };
  }

  /** KV on the default collection (`path` undefined) or on "scope.collection". */
  #collectionHandle(b: Bucket, path: string | undefined): CollectionHandle {
    const cid = (): number => {
      if (path === undefined) return 0;
      const c = b.collections.manifest.lookup(path).collection;
      if (!c || path.split('.').length !== 2) throw ErrClusterUnknownCollection(path, b.collections.uid);
      return c.id;
    };
    const toKey = (key: string | Uint8Array) => {
      const k = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
      if (k.length === 0 || k.length > 250) throw ErrClusterTopology(`key length must be 1..250 bytes`);
      return k;
    };
    const locate = (k: Buffer) => {
      if (this.#closed) throw ErrClusterClosed('bucket operation');
      const id = vbucketOfKey(k, this.numVbuckets);
      const a = this.#vbMap[id][0];
      if (a < 0 || !this.#nodes[a].running) throw ErrClusterVbucketUnavailable(id, 'its active node is down');
      return b.vbuckets[id];
    };
    const encode = (value: DocValue, dt?: number): [Buffer, number] => {
      if (typeof value === 'string') {
        const v = Buffer.from(value, 'utf8');
        return [v, dt ?? (isJsonValue(v) ? 1 : 0)];
      }
      if (value instanceof Uint8Array) {
        const v = Buffer.from(value);
        return [v, dt ?? (isJsonValue(v) ? 1 : 0)];
      }
      return [Buffer.from(JSON.stringify(value)), dt ?? 1];
    };
    const ks = (k: Buffer) => internalKeyStr(cid(), k.toString('latin1'));
    const result = (it: Item, vb: number): MutationResult => ({
      cas: it.cas,
      seqno: it.seqno,
      vbucket: vb,
      vbucketUuid: b.vbuckets[vb].uuid,
    });
    const write =
      (mode: 'set' | 'add' | 'replace') =>
      (key: string | Uint8Array, value: DocValue, o: WriteOptions = {}) => {
        const k = toKey(key);
        const vb = locate(k);
        const [v, dt] = encode(value, o.datatype);
        const r = b.store(vb, mode, ks(k), v, dt, o.flags ?? 0, o.expiry ?? 0, o.cas ?? 0n);
        if (r.status === KvStatus.KeyEnoent) throw ErrClusterKeyNotFound(k.toString());
        if (r.status !== KvStatus.Success) throw ErrClusterKeyExists(k.toString());
        return result(r.item!, vb.id);
      };
    return {
      upsert: write('set'),
      insert: write('add'),
      replace: write('replace'),
      remove: (key, o = {}) => {
        const k = toKey(key);
        const vb = locate(k);
        const r = b.remove(vb, ks(k), o.cas ?? 0n);
        if (r.status === KvStatus.KeyEnoent) throw ErrClusterKeyNotFound(k.toString());
        if (r.status !== KvStatus.Success) throw ErrClusterKeyExists(k.toString());
        return result(r.item!, vb.id);
      },
      get: (key) => {
        const k = toKey(key);
        const vb = locate(k);
        const it = b.getLive(vb, ks(k));
        if (!it) return undefined;
        return {
          value: it.value,
          cas: it.cas,
          flags: it.flags,
          expiry: it.expiry,
          datatype: it.datatype,
          revSeqno: it.revSeqno,
          seqno: it.seqno,
          vbucket: vb.id,
        };
      },
      touch: (key, expiry) => {
        const k = toKey(key);
        const vb = locate(k);
        const r = b.touch(vb, ks(k), expiry);
        if (r.status !== KvStatus.Success) throw ErrClusterKeyNotFound(k.toString());
        return result(r.item!, vb.id);
      },
    };
  }

  stats(): Record<string, unknown> {
    return {
      ...this.#group.snapshot(),
      rev: this.rev,
      sync_writes_in_flight: this.syncWrites.inFlight,
    };
  }
}

/**
 * Starts an embedded Couchbase-compatible cluster: data nodes speaking the memcached binary
 * protocol with a DCP producer, and a cluster-manager REST endpoint per node.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const c = new EmbeddedCluster(options);
  try {
    await c.start();
  } catch (err) {
    await c.close().catch(() => {});
    throw err;
  }
  return c;
}
