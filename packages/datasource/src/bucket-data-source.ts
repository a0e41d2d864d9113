import { createPlainProvider } from '@tributary/auth-plain';
import { createScramProvider } from '@tributary/auth-scram';
import {
  decodeDcpSystemEvent,
  decodeSystemEventData,
  splitCollectionKey,
  type WirePacket,
} from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { createTlsFactory } from '@tributary/connection-tls';
import {
  type AuthProvider,
  backoffLoop,
  type ConnectionFactory,
  componentLogger,
  ErrInvalidArgument,
  isTributaryError,
  type Logger,
} from '@tributary/core';
import { Counter, createMetrics } from '@tributary/metrics';
import {
  type ClusterMap,
  fetchClusterMap,
  followClusterMap,
  isNewerMap,
  normalizeServerUrl,
} from './cluster-map.js';
import { CollectionsTracker, type ServerFilter } from './collections/collections-tracker.js';
import {
  ErrAllServerUrlsFailed,
  ErrBucketUuidMismatch,
  ErrDataSourceClosed,
  ErrReceiver,
  ErrStream,
} from './errors.js';
import type { DataSourceCore } from './internal/core.js';
import { exposeDataSource } from './internal/datasource-metrics.js';
import type { DcpConnection } from './internal/dcp-connection.js';
import { LazyDcpRequest } from './internal/dcp-request.js';
import { factoryAgent } from './internal/https-agent.js';
import { NodeWorker } from './internal/node-worker.js';
import { certificateError } from './internal/tls-certificate.js';
import { type QueueItem, VBucket } from './internal/vbucket.js';
import { readU64 } from './internal/wire.js';
import { encodeMetaData, rolledBackMetaData, uuidForRollback, type VBucketMetaData } from './metadata.js';
import {
  type BucketDataSourceOptions,
  type DataSourceAuth,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import type { Receiver } from './receiver.js';
import { type BucketDataSourceStats, STAT_NAMES, type StatName, type VBucketStats } from './stats.js';

export interface CreateBucketDataSourceParams {
  /** Cluster-manager URLs ("http://h:8091", "https://h:18091", "couchbase://h", "couchbases://h"); tried in turn. */
  serverUrls: readonly string[];
  poolName?: string;
  bucketName: string;
  /** When given, a cluster map of another bucket incarnation is refused (TRIB_DATASOURCE_BUCKET_UUID). */
  bucketUuid?: string;
  /** Only these vbuckets (default: all). */
  vbucketIds?: readonly number[];
  auth?: DataSourceAuth;
  receiver: Receiver;
  options?: BucketDataSourceOptions;
}

/** cbdatasource's BucketDataSource. */
export interface BucketDataSource {
  /** Starts connecting; receiver calls follow. Rejects when already started or closed. */
  start(): Promise<void>;
  /** Asks for a cluster-map refresh (deduplicated while one is pending). */
  kick(reason?: string): void;
  /** An immutable snapshot of the counters and per-vbucket state. */
  stats(): BucketDataSourceStats;
  /** Stops every worker and stream; resolves when nothing is left running. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

const METHOD_BY_OPCODE: Record<number, string> = {
  85: 'streamEnd',
  86: 'snapshotStart',
  87: 'dataUpdate',
  88: 'dataDelete',
  89: 'dataDelete',
};

/** Why the streaming-config request of a finished wait is aborted (not an error anyone sees). */
const ABORT_WAIT = new Error('cluster map wait ended');

export function createBucketDataSource(params: CreateBucketDataSourceParams): BucketDataSource {
  return new DataSourceImpl(params);
}

class DataSourceImpl implements BucketDataSource, DataSourceCore {
  readonly opts: ResolvedOptions;
  readonly receiver: Receiver;
  readonly log: Logger;
  readonly s: Record<StatName, Counter>;
  readonly bucketName: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly mechanism: string | undefined;
  readonly signal: AbortSignal;
  vbs: VBucket[] = [];
  owner: (NodeWorker | null)[] = [];
  /** Collections streams: names, filters and manifest (undefined: collections off). */
  readonly collections: CollectionsTracker | undefined;
  /** vbuckets waiting for their filter's scope to exist (again). */
  readonly #waitingForScope = new Set<VBucket>();

  readonly #serverUrls: string[];
  readonly #poolName: string;
  readonly #bucketUuid: string | undefined;
  readonly #vbucketIds: readonly number[] | undefined;
  readonly #auth: DataSourceAuth | undefined;
  readonly #unexpose: () => void;
  readonly #abort = new AbortController();
  readonly #workers = new Map<string, NodeWorker>();
  readonly #tls: boolean;
  readonly #withXattrs: boolean;
  /** Keys carry a LEB128 collection ID (HELLO Collections agreed, or the bootstrap failed). */
  readonly #collections: boolean;
  #factory: ConnectionFactory | undefined;
  #tlsFactory: ConnectionFactory | undefined;
  #providers: AuthProvider[] | undefined;
  #map: ClusterMap | undefined;
  #wantedVbs: Set<number> | undefined;
  #opaque = 0x10000;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #clusterLoop: Promise<void> | undefined;
  #kickPending = false;
  #kickWaiter: (() => void) | undefined;
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  #goodUrl = 0;
  #https: ReturnType<typeof factoryAgent> | undefined;

  constructor(p: CreateBucketDataSourceParams) {
    if (!p || typeof p !== 'object') throw ErrInvalidArgument('params', 'an object is required');
    if (!Array.isArray(p.serverUrls) || p.serverUrls.length === 0)
      throw ErrInvalidArgument('serverUrls', 'at least one URL');
    if (typeof p.bucketName !== 'string' || p.bucketName === '')
      throw ErrInvalidArgument('bucketName', 'a non-empty string');
    const r = p.receiver;
    if (
      !r ||
      typeof r.dataUpdate !== 'function' ||
      typeof r.dataDelete !== 'function' ||
      typeof r.getMetaData !== 'function'
    ) {
      throw ErrInvalidArgument(
        'receiver',
        'needs onError, dataUpdate, dataDelete, snapshotStart, setMetaData, getMetaData and rollback',
      );
    }
    for (const m of ['onError', 'snapshotStart', 'setMetaData', 'rollback'] as const) {
      if (typeof r[m] !== 'function') throw ErrInvalidArgument('receiver', `missing ${m}()`);
    }
    const urls = p.serverUrls.map((u) => {
      try {
        return normalizeServerUrl(u);
      } catch {
        throw ErrInvalidArgument('serverUrls', `not a URL: ${u}`);
      }
    });
    this.#serverUrls = [...p.serverUrls];
    this.#tls = urls.some((u) => u.protocol === 'https:');
    if (p.vbucketIds) {
      for (const vb of p.vbucketIds) {
        if (!Number.isInteger(vb) || vb < 0 || vb > 0xffff)
          throw ErrInvalidArgument('vbucketIds', `bad vbucket ${vb}`);
      }
    }
    this.opts = resolveOptions(p.options);
    this.receiver = r;
    this.bucketName = p.bucketName;
    this.#poolName = p.poolName ?? 'default';
    this.#bucketUuid = p.bucketUuid || undefined;
    this.#vbucketIds = p.vbucketIds ? [...new Set(p.vbucketIds)].sort((a, b) => a - b) : undefined;
    this.#auth = p.auth;
    this.username = p.auth?.username;
    this.password = p.auth?.password;
    this.mechanism = p.auth?.mechanism;
    this.#withXattrs = this.opts.includeXAttrs;
    this.#collections = this.opts.collections !== undefined;
    this.collections = this.opts.collections ? new CollectionsTracker(this.opts.collections) : undefined;
    this.signal = this.#abort.signal;
    this.log = componentLogger(p.options?.logger, 'datasource', {
      bucket: p.bucketName,
      name: this.opts.name,
    });
    const metrics = p.options?.metrics ?? createMetrics();
    // Labelled by bucket only: the connection name is random unless given, and a random label
    // would start new series at every restart.
    const group = metrics.group('datasource', { bucket: p.bucketName });
    const s = {} as Record<StatName, Counter>;
    for (const n of STAT_NAMES) s[n] = new Counter(n);
    this.s = s;
    this.#unexpose = exposeDataSource(metrics, group, s, {
      vbucket: (vb) => this.vbs[vb],
      wantedVbuckets: () => this.#wantedVbs ?? [],
      workers: () =>
        [...this.#workers.values()].map((w) => ({
          server: w.server,
          ready: w.ready,
          unacked: w.conn?.fc.outstanding ?? 0,
        })),
    });
    // `s` has 120+ keys, so V8 keeps it as a dictionary: the per-message counters get fields.
    this.#hot = {
      change: s.TotUPRDataChange,
      mutation: s.TotUPRDataChangeMutation,
      deletion: s.TotUPRDataChangeDeletion,
      expiration: s.TotUPRDataChangeExpiration,
      ok: s.TotUPRDataChangeOk,
    };
    this.#factory = p.options?.connectionFactory;
    this.#tlsFactory = p.options?.tlsConnectionFactory;
    this.#tlsOptions = p.options?.tls;
  }

  readonly #tlsOptions: BucketDataSourceOptions['tls'];
  readonly #hot: {
    change: Counter;
    mutation: Counter;
    deletion: Counter;
    expiration: Counter;
    ok: Counter;
  };

  // ---- public API ----

  async start(): Promise<void> {
    if (this.#closed) throw ErrDataSourceClosed();
    if (this.#started) throw ErrInvalidArgument('start', 'already started');
    this.#started = true;
    this.s.TotStart.inc();
    this.#clusterLoop = backoffLoop('refreshCluster', () => this.#refreshCluster(), {
      startMs: this.opts.clusterManagerSleepInitMs,
      factor: this.opts.clusterManagerBackoffFactor,
      maxMs: this.opts.clusterManagerSleepMaxMs,
      signal: this.signal,
    })
      .catch((err) => this.reportError(err as Error))
      .finally(() => this.s.TotRefreshClusterDone.inc());
  }

  kick(reason = ''): void {
    if (this.#closed) return;
    this.s.TotKick.inc();
    if (this.#kickPending) {
      this.s.TotKickDeduped.inc();
      return;
    }
    this.log.debug({ reason }, 'kick: cluster map refresh');
    this.#kickPending = true;
    this.s.TotKickOk.inc();
    const w = this.#kickWaiter;
    this.#kickWaiter = undefined;
    w?.();
  }

  stats(): BucketDataSourceStats {
    const out: Record<string, unknown> = {};
    for (const n of STAT_NAMES) out[n] = this.s[n].value;
    const vbuckets: VBucketStats[] = [];
    const now = performance.now();
    let lagTotal = 0;
    let lagMax = 0;
    for (const vb of this.#wantedVbs ?? []) {
      const v = this.vbs[vb];
      if (!v) continue;
      const lag = Math.max(0, v.highSeqno - v.lastSeq);
      lagTotal += lag;
      if (lag > lagMax) lagMax = lag;
      vbuckets.push(
        Object.freeze({
          vbucket: vb,
          state: v.state,
          server: v.worker?.server ?? '',
          node: this.owner[vb]?.server ?? '',
          lastSeq: v.lastSeq,
          highSeqno: v.highSeqno,
          lag,
          lagSeconds: v.lagSeconds(now),
          snapStart: v.snapStart,
          snapEnd: v.snapEnd,
          vbucketUuid: v.vbucketUuid.toString(),
          queued: v.queued,
        }),
      );
    }
    let unacked = 0;
    const workers = [...this.#workers.values()].map((w) => {
      if (w.conn) unacked += w.conn.fc.outstanding;
      return Object.freeze({ server: w.server, connected: w.ready, vbuckets: w.wanted.size });
    });
    out.vbuckets = Object.freeze(vbuckets);
    out.lagTotal = lagTotal;
    out.lagMax = lagMax;
    out.unackedBytes = unacked;
    out.workers = Object.freeze(workers);
    return Object.freeze(out) as BucketDataSourceStats;
  }

  close(): Promise<void> {
    if (!this.#closing) this.#closing = this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.s.TotRefreshClusterStopped.inc();
    // An explicit reason: the default one is a DOMException, whose first construction costs ~10 ms.
    this.#abort.abort(ErrDataSourceClosed());
    const w = this.#kickWaiter;
    this.#kickWaiter = undefined;
    w?.();
    for (const v of this.vbs) {
      if (!v) continue;
      if (v.retryTimer) clearTimeout(v.retryTimer);
      v.retryTimer = null;
    }
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    await Promise.allSettled([this.#clusterLoop, ...workers.map((x) => x.close())]);
    this.#unexpose();
    await this.#https?.destroy().catch((err: unknown) => this.log.debug({ err }, 'https agent destroy'));
    for (const v of this.vbs) {
      if (!v) continue;
      v.queue = [];
      v.head = 0;
    }
    // Receiver calls already running are waited for: nothing runs once close() resolves.
    if (this.#inflight > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
  }

  // ---- DataSourceCore ----

  authProviders(): AuthProvider[] {
    if (!this.#providers) {
      if (this.#auth?.provider) this.#providers = [this.#auth.provider];
      else {
        const forcePlain = this.#auth?.mechanism?.toUpperCase() === 'PLAIN';
        this.#providers = [createScramProvider(), createPlainProvider({ allowInsecurePlain: forcePlain })];
      }
    }
    return this.#providers;
  }

  factoryFor(tls: boolean): ConnectionFactory {
    if (tls) {
      this.#tlsFactory ??= createTlsFactory({ ...(this.#tlsOptions ?? {}) } as Parameters<
        typeof createTlsFactory
      >[0]);
      return this.#tlsFactory;
    }
    this.#factory ??= createTcpFactory();
    return this.#factory;
  }

  /** The HTTP client for cluster-manager requests to `url`: undici's default, or ours for https. */
  #dispatcherFor(url: string): ReturnType<typeof factoryAgent> | undefined {
    if (normalizeServerUrl(url).protocol !== 'https:') return undefined;
    this.#https ??= factoryAgent(this.factoryFor(true), this.opts.httpTimeoutMs);
    return this.#https;
  }

  nextOpaque(): number {
    this.#opaque = this.#opaque >= 0xfffffff0 ? 0x10000 : this.#opaque + 1;
    return this.#opaque;
  }

  reportError(err: Error): void {
    if (this.#closed) return;
    this.log.debug({ err }, 'datasource error');
    try {
      this.receiver.onError(err);
    } catch (e) {
      this.log.warn({ err: e }, 'receiver.onError threw');
    }
  }

  // ---- cluster map ----

  async #refreshCluster(): Promise<number> {
    if (this.#closed) return -1;
    const s = this.s;
    s.TotRefreshCluster.inc();
    this.#kickPending = false;
    const urls = this.#serverUrls;
    let map: ClusterMap | undefined;
    let url = '';
    let lastErr: unknown;
    for (let i = 0; i < urls.length && !this.#closed; i++) {
      const idx = (this.#goodUrl + i) % urls.length;
      url = urls[idx]!;
      s.TotRefreshClusterConnectBucket.inc();
      let m: ClusterMap;
      try {
        m = await fetchClusterMap(url, {
          poolName: this.#poolName,
          bucketName: this.bucketName,
          username: this.username,
          password: this.password,
          signal: this.signal,
          timeoutMs: this.opts.httpTimeoutMs,
          dispatcher: this.#dispatcherFor(url),
        });
      } catch (err) {
        if (this.#closed) return -1;
        s.TotRefreshClusterConnectBucketErr.inc();
        // A certificate problem is reported as such, not only as "no server URL answered".
        const cert = certificateError(err, url);
        lastErr = cert ?? err;
        if (isTributaryError(err, 'TRIB_AUTH_FAILED')) this.reportError(err as Error);
        else if (cert) this.reportError(cert);
        this.log.debug({ err, url }, 'cluster map fetch failed');
        continue;
      }
      if (this.#bucketUuid && m.bucketUuid !== this.#bucketUuid) {
        s.TotRefreshClusterBucketUUIDErr.inc();
        lastErr = ErrBucketUuidMismatch(url, this.#bucketUuid, m.bucketUuid);
        this.reportError(lastErr as Error);
        continue;
      }
      s.TotRefreshClusterConnectBucketOk.inc();
      this.#goodUrl = idx;
      map = m;
      break;
    }
    if (this.#closed) return -1;
    if (!map) {
      s.TotRefreshClusterAllServerURLsConnectBucketErr.inc();
      this.reportError(ErrAllServerUrlsFailed(urls, { cause: lastErr, details: { serverUrls: [...urls] } }));
      return 0;
    }
    s.TotRefreshClusterKickWorkers.inc();
    this.#applyMap(map, true);
    s.TotRefreshClusterKickWorkersOk.inc();
    return this.#waitForChange(url);
  }

  /** Waits for a kick, a close, or the end of the streaming config; applies pushed maps meanwhile. */
  async #waitForChange(url: string): Promise<number> {
    const s = this.s;
    if (this.#kickPending) {
      s.TotRefreshClusterAwoken.inc();
      return 1;
    }
    const started = Date.now();
    const ac = new AbortController();
    const kicked = new Promise<'kick'>((resolve) => {
      this.#kickWaiter = () => resolve('kick');
    });
    const waits: Promise<'kick' | 'stream'>[] = [kicked];
    if (this.opts.streamingConfig) {
      const streaming = followClusterMap(
        url,
        {
          poolName: this.#poolName,
          bucketName: this.bucketName,
          username: this.username,
          password: this.password,
          signal: AbortSignal.any([this.signal, ac.signal]),
          connectTimeoutMs: this.opts.httpTimeoutMs,
          dispatcher: this.#dispatcherFor(url),
        },
        (m) => {
          if (this.#closed) return;
          if (this.#bucketUuid && m.bucketUuid !== this.#bucketUuid) return;
          s.TotRefreshClusterStreamConfig.inc();
          this.#applyMap(m, false);
        },
      ).then(
        () => 'stream' as const,
        (err) => {
          if (!this.#closed && !ac.signal.aborted) {
            s.TotRefreshClusterStreamConfigErr.inc();
            this.log.debug({ err, url }, 'streaming config ended with an error');
          }
          return 'stream' as const;
        },
      );
      waits.push(streaming);
    }
    const why = await Promise.race(waits);
    ac.abort(ABORT_WAIT);
    this.#kickWaiter = undefined;
    if (this.#closed) {
      s.TotRefreshClusterAwokenClosed.inc();
      return -1;
    }
    s.TotRefreshClusterAwoken.inc();
    if (why === 'kick') return 1;
    s.TotRefreshClusterAwokenRestart.inc();
    // The streaming connection ended (node gone?): re-fetch now, but do not spin if it ends at once.
    return Date.now() - started > this.opts.clusterManagerSleepMaxMs ? 1 : 0;
  }

  /** cbdatasource's refreshWorkers: place each wanted vbucket on its active node's worker. */
  #applyMap(map: ClusterMap, fetched: boolean): void {
    const s = this.s;
    if (!fetched && this.#map && !isNewerMap(map, this.#map)) return;
    s.TotRefreshWorkers.inc();
    if (map.vbucketMap.length === 0) {
      s.TotRefreshWorkersVBMNilErr.inc();
      return;
    }
    this.#map = map;
    const tracker = this.collections;
    if (tracker && map.manifestUid !== undefined && map.manifestUid > tracker.uid) this.#refreshManifest();
    const n = map.numVbuckets;
    if (this.vbs.length < n) {
      for (let i = this.vbs.length; i < n; i++) {
        this.vbs.push(new VBucket(i));
        this.owner.push(null);
      }
    }
    if (!this.#wantedVbs) {
      const wanted = new Set<number>();
      for (const vb of this.#vbucketIds ?? Array.from({ length: n }, (_, i) => i)) {
        if (vb >= n) {
          s.TotRefreshWorkersVBucketIDErr.inc();
          this.reportError(
            ErrInvalidArgument('vbucketIds', `vbucket ${vb} does not exist (the bucket has ${n})`),
          );
          continue;
        }
        wanted.add(vb);
      }
      this.#wantedVbs = wanted;
    }
    const perServer = new Map<string, Set<number>>();
    for (const vb of this.#wantedVbs) {
      const row = map.vbucketMap[vb];
      const master = row?.[0] ?? -1;
      if (!row) {
        s.TotRefreshWorkersServerIdxsErr.inc();
        this.owner[vb] = null;
        continue;
      }
      if (master < 0) {
        s.TotRefreshWorkersMasterIdxErr.inc();
        this.owner[vb] = null;
        continue;
      }
      const server = this.#tls ? map.tlsServers[master] : map.servers[master];
      if (!server) {
        s.TotRefreshWorkersMasterServerErr.inc();
        this.owner[vb] = null;
        continue;
      }
      let set = perServer.get(server);
      if (!set) perServer.set(server, (set = new Set()));
      set.add(vb);
    }
    // Workers first exist, then own: a vbucket moves once its old stream is closed.
    for (const server of perServer.keys()) {
      if (!this.#workers.has(server)) {
        s.TotRefreshWorkersAddWorker.inc();
        const w = new NodeWorker(this, server, this.#tls);
        this.#workers.set(server, w);
        w.start();
      }
    }
    for (const [server, vbsOf] of perServer) {
      const w = this.#workers.get(server)!;
      for (const vb of vbsOf) this.owner[vb] = w;
    }
    for (const [server, w] of this.#workers) {
      if (perServer.has(server)) continue;
      s.TotRefreshWorkersRemoveWorker.inc();
      s.TotRefreshWorkersCloseWorker.inc();
      this.#workers.delete(server);
      w.setWanted(new Set());
      void w.close();
    }
    for (const [server, vbsOf] of perServer) {
      s.TotRefreshWorkersKickWorker.inc();
      this.#workers.get(server)!.setWanted(vbsOf);
    }
    s.TotRefreshWorkersDone.inc();
  }

  // ---- per-vbucket scheduling ----

  nextRetryDelay(vbs: VBucket): number {
    const o = this.opts;
    vbs.retryMs =
      vbs.retryMs === 0
        ? o.dataManagerSleepInitMs
        : Math.min(o.dataManagerSleepMaxMs, vbs.retryMs * o.dataManagerBackoffFactor);
    return Math.max(1, vbs.retryMs);
  }

  // ---- collections ----

  /** The filter of a stream request for `vbs`; null = its scope does not exist: wait for it. */
  streamFilterFor(vbs: VBucket, manifestUid: number | undefined): ServerFilter {
    const t = this.collections;
    if (!t) return { value: undefined };
    const f = t.serverFilter(manifestUid);
    if (f === null) this.#waitingForScope.add(vbs);
    return f;
  }

  #manifestFetch: Promise<void> | undefined;

  /** Fetches the manifest over a ready data-node connection; waiting vbuckets are requested again. */
  #refreshManifest(): void {
    if (this.#manifestFetch || this.#closed) return;
    const w = [...this.#workers.values()].find((x) => x.ready);
    if (!w) return; // the next bootstrap fetches it
    this.#manifestFetch = w
      .fetchManifest()
      .then(() => this.manifestChanged())
      .catch((err: unknown) => this.log.debug({ err }, 'collections manifest refresh failed'))
      .finally(() => {
        this.#manifestFetch = undefined;
      });
  }

  /** A newer manifest is known: vbuckets waiting for their scope try again. */
  manifestChanged(): void {
    if (!this.#waitingForScope.size || this.collections?.serverFilter() === null) return;
    const waiting = [...this.#waitingForScope];
    this.#waitingForScope.clear();
    for (const vbs of waiting) this.vbIdle(vbs);
  }

  /** A vbucket with no stream: request it from its owner (now or after `delayMs`). */
  vbIdle(vbs: VBucket, delayMs = 0): void {
    if (this.#closed || vbs.ended) return;
    if (delayMs > 0) {
      if (!vbs.retryTimer) {
        vbs.retryTimer = setTimeout(() => {
          vbs.retryTimer = null;
          this.vbIdle(vbs, 0);
        }, delayMs);
        vbs.retryTimer.unref?.();
      }
      return;
    }
    if (vbs.state !== '' || vbs.retryTimer) return;
    const w = this.owner[vbs.id];
    if (w?.ready) w.requestStream(vbs);
  }

  /** Restarts a vbucket's stream from its last metadata, after the data-manager backoff. */
  #restart(vbs: VBucket): void {
    const delay = this.nextRetryDelay(vbs);
    const w = vbs.worker;
    if (vbs.state === 'running' && w) {
      w.closeStream(vbs, delay);
      return;
    }
    if (vbs.state === 'closing') return;
    vbs.state = '';
    vbs.opaque = 0;
    vbs.conn = null;
    vbs.worker = null;
    this.vbIdle(vbs, delay);
  }

  // ---- in-order delivery (the hot path) ----

  deliver(vbs: VBucket, p: WirePacket, conn: DcpConnection, bytes: number): void {
    if (vbs.busy) {
      vbs.queue.push({ p, conn, bytes, opaque: p.opaque, task: null, name: '' });
      return;
    }
    let r: unknown;
    try {
      r = this.#process(vbs, p, conn);
    } catch (err) {
      conn.finished(bytes);
      this.#receiverFailed(vbs, err, METHOD_BY_OPCODE[p.opcode] ?? 'receiver');
      return;
    }
    if (r === undefined || !isThenable(r)) {
      conn.finished(bytes);
      return;
    }
    this.#hold(vbs, r, conn, bytes, METHOD_BY_OPCODE[p.opcode] ?? 'receiver');
  }

  enqueueTask(vbs: VBucket, opaque: number, name: string, task: () => unknown): void {
    const item: QueueItem = { p: null, conn: null, bytes: 0, opaque, task, name };
    if (vbs.busy || vbs.queued > 0) {
      vbs.queue.push(item);
      return;
    }
    this.#run(vbs, item);
  }

  /** Runs one item; returns true when it went async (the vbucket is then busy). */
  #run(vbs: VBucket, it: QueueItem): boolean {
    if (it.opaque !== 0 && it.opaque !== vbs.opaque) {
      if (it.conn) {
        this.s.TotUPRDataChangeStateErr.inc();
        it.conn.finished(it.bytes);
      }
      return false;
    }
    const name = it.p ? (METHOD_BY_OPCODE[it.p.opcode] ?? 'receiver') : it.name;
    let r: unknown;
    try {
      r = it.p ? this.#process(vbs, it.p, it.conn!) : it.task!();
    } catch (err) {
      it.conn?.finished(it.bytes);
      this.#receiverFailed(vbs, err, name);
      return false;
    }
    if (r !== undefined && isThenable(r)) {
      this.#hold(vbs, r, it.conn, it.bytes, name);
      return true;
    }
    it.conn?.finished(it.bytes);
    return false;
  }

  #hold(
    vbs: VBucket,
    r: PromiseLike<unknown>,
    conn: DcpConnection | null,
    bytes: number,
    name: string,
  ): void {
    vbs.busy = true;
    this.#inflight++;
    r.then(
      () => this.#settled(vbs, conn, bytes, undefined, name),
      (err: unknown) => this.#settled(vbs, conn, bytes, err ?? new Error('rejected'), name),
    );
  }

  #settled(vbs: VBucket, conn: DcpConnection | null, bytes: number, err: unknown, name: string): void {
    this.#inflight--;
    vbs.busy = false;
    conn?.finished(bytes);
    if (err !== undefined) this.#receiverFailed(vbs, err, name);
    if (this.#closed) {
      vbs.queue = [];
      vbs.head = 0;
      if (this.#inflight === 0) for (const w of this.#idleWaiters.splice(0)) w();
      return;
    }
    this.#drain(vbs);
  }

  #drain(vbs: VBucket): void {
    const q = vbs.queue;
    while (vbs.head < q.length) {
      const it = q[vbs.head]!;
      q[vbs.head++] = undefined;
      if (this.#run(vbs, it)) return;
    }
    vbs.queue = [];
    vbs.head = 0;
  }

  #receiverFailed(vbs: VBucket, err: unknown, name: string): void {
    const s = this.s;
    if (name === 'dataUpdate' || name === 'dataDelete') s.TotUPRDataChangeErr.inc();
    else if (name === 'snapshotStart') s.TotUPRSnapshotStartErr.inc();
    else if (name === 'setMetaData') s.TotSetVBucketMetaDataErr.inc();
    else if (name === 'getMetaData') s.TotGetVBucketMetaDataErr.inc();
    else if (name === 'rollback') s.TotUPRStreamReqResRollbackErr.inc();
    if (this.#closed) return;
    const e = err instanceof Error ? err : new Error(String(err));
    this.reportError(ErrReceiver(name, vbs.id, e.message, { cause: e }));
    this.#restart(vbs);
  }

  #process(vbs: VBucket, p: WirePacket, conn: DcpConnection): unknown {
    const s = this.s;
    switch (p.opcode) {
      case 0x57: {
        // MUTATION
        const hot = this.#hot;
        hot.change.inc();
        hot.mutation.inc();
        const seq = p.readExtrasU64(0);
        if (!vbs.snapSaved) {
          const r = this.#saveSnapshot(vbs);
          if (r !== undefined && isThenable(r)) return this.#dataAfter(r, vbs, p, seq, 'mutation');
        }
        return this.#data(vbs, p, seq, 'mutation');
      }
      case 0x58:
      case 0x59: {
        const kind = p.opcode === 0x58 ? 'deletion' : 'expiration';
        const hot = this.#hot;
        hot.change.inc();
        if (kind === 'deletion') hot.deletion.inc();
        else hot.expiration.inc();
        const seq = p.readExtrasU64(0);
        if (!vbs.snapSaved) {
          const r = this.#saveSnapshot(vbs);
          if (r !== undefined && isThenable(r)) return this.#dataAfter(r, vbs, p, seq, kind);
        }
        return this.#data(vbs, p, seq, kind);
      }
      case 0x56: {
        // SNAPSHOT_MARKER v1 (20 bytes of extras) or v2.x (1 byte of extras, fields in the value)
        s.TotUPRSnapshot.inc();
        const ex = p.extras;
        const src = ex.length >= 20 ? ex : p.value;
        if (src.length < 20) {
          s.TotUPRSnapshotStateErr.inc();
          return undefined;
        }
        const start = readU64(src, 0);
        const end = readU64(src, 8);
        const flags = src.readUInt32BE(16);
        if (flags & 0x08) conn.send(snapshotAck(p.opaque));
        vbs.snapStart = start;
        vbs.snapEnd = end;
        vbs.snapSaved = false;
        // The producer has at least the snapshot's end: lag is known between seqno polls too.
        vbs.noteHigh(end, performance.now());
        s.TotUPRSnapshotStart.inc();
        const r = this.receiver.snapshotStart(vbs.id, start, end, flags);
        if (r !== undefined && isThenable(r)) return this.#countAfter(r, s.TotUPRSnapshotOk);
        s.TotUPRSnapshotOk.inc();
        return undefined;
      }
      case 0x55: {
        s.TotUPRStreamEnd.inc();
        const reason = p.extras.length >= 4 ? p.extras.readUInt32BE(0) : 0;
        this.#streamEnded(vbs, reason);
        return undefined;
      }
      case 0x64: {
        // SEQNO_ADVANCED: the vbucket is that far, what lay between was not for this stream.
        s.TotUPRSeqnoAdvanced.inc();
        if (p.extras.length < 8) return undefined;
        const seq = p.readExtrasU64(0);
        const r = this.receiver.seqnoAdvanced?.(vbs.id, seq);
        if (r !== undefined && isThenable(r)) return this.#dataDone(r, vbs, seq);
        vbs.lastSeq = seq;
        return undefined;
      }
      case 0x5f:
        s.TotUPRSystemEvent.inc();
        return this.#systemEvent(vbs, p);
      default:
        return undefined;
    }
  }

  /**
   * A DCP system event: the tracker learns names and follows the filter, the vbucket's metadata
   * takes the new manifest uid (in-stream, so it rolls back with the data), and the receiver gets
   * a collectionEvent when it is about what it streams.
   */
  #systemEvent(vbs: VBucket, p: WirePacket): unknown {
    const t = this.collections;
    if (!t) return undefined;
    const ev = decodeDcpSystemEvent(p);
    let data: ReturnType<typeof decodeSystemEventData>;
    try {
      data = decodeSystemEventData(ev.event, ev.version, ev.key, ev.value);
    } catch (err) {
      // An event this client cannot read (a newer kind): its seqno still counts.
      this.log.debug({ err, vb: vbs.id, event: ev.event }, 'system event not understood');
      vbs.lastSeq = ev.bySeqno;
      return undefined;
    }
    const out = t.onEvent(vbs.id, data);
    const seq = ev.bySeqno;
    const meta = this.setMeta(vbs, { ...vbs.meta, manifestUid: data.manifestUid });
    const call = () => {
      const r = out ? this.receiver.collectionEvent?.(vbs.id, seq, out) : undefined;
      if (r !== undefined && isThenable(r)) return this.#dataDone(r, vbs, seq);
      vbs.lastSeq = seq;
      return undefined;
    };
    if (meta !== undefined && isThenable(meta)) return meta.then(call);
    return call();
  }

  #data(vbs: VBucket, p: WirePacket, seq: number, kind: 'mutation' | 'deletion' | 'expiration'): unknown {
    let key = p.key;
    let collectionId: number | undefined;
    let scope: string | undefined;
    let collection: string | undefined;
    const t = this.collections;
    if (t) {
      const split = splitCollectionKey(key);
      key = split.key;
      collectionId = split.collectionId;
      if (!t.passes(collectionId)) {
        // Streamed for its scope (or unfiltered) but not named: skipped, its seqno done.
        vbs.lastSeq = seq;
        return undefined;
      }
      scope = t.scopeName(collectionId);
      collection = t.collectionName(collectionId);
    }
    const req = new LazyDcpRequest(
      kind,
      p,
      vbs.vbucketUuid,
      this.#withXattrs,
      collectionId,
      scope,
      collection,
    );
    const r =
      kind === 'mutation'
        ? this.receiver.dataUpdate(vbs.id, key, seq, req)
        : this.receiver.dataDelete(vbs.id, key, seq, req);
    if (r !== undefined && isThenable(r)) return this.#dataDone(r, vbs, seq);
    vbs.lastSeq = seq;
    vbs.retryMs = 0;
    this.#hot.ok.inc();
    return undefined;
  }

  // The continuations live in their own methods: a closure in #process or #data would capture
  // their parameters, and V8 would then allocate a context on every call, pending or not.

  #dataAfter(
    r: PromiseLike<unknown>,
    vbs: VBucket,
    p: WirePacket,
    seq: number,
    kind: 'mutation' | 'deletion' | 'expiration',
  ): PromiseLike<unknown> {
    return r.then(() => this.#data(vbs, p, seq, kind));
  }

  #dataDone(r: PromiseLike<unknown>, vbs: VBucket, seq: number): PromiseLike<void> {
    return r.then(() => {
      vbs.lastSeq = seq;
      vbs.retryMs = 0;
      this.#hot.ok.inc();
    });
  }

  #countAfter(r: PromiseLike<unknown>, c: Counter): PromiseLike<void> {
    return r.then(() => c.inc());
  }

  /** cbdatasource: persist the snapshot range with the first item of a snapshot. */
  #saveSnapshot(vbs: VBucket): unknown {
    vbs.snapSaved = true;
    const m = vbs.meta;
    if (m.snapStart === vbs.snapStart && m.snapEnd === vbs.snapEnd) return undefined;
    return this.setMeta(vbs, { ...m, snapStart: vbs.snapStart, snapEnd: vbs.snapEnd });
  }

  setMeta(vbs: VBucket, meta: VBucketMetaData): unknown {
    const s = this.s;
    s.TotSetVBucketMetaData.inc();
    vbs.meta = meta;
    let bytes: Uint8Array;
    try {
      bytes = encodeMetaData(meta);
    } catch (err) {
      s.TotSetVBucketMetaDataMarshalErr.inc();
      throw err;
    }
    const r = this.receiver.setMetaData(vbs.id, bytes);
    if (r !== undefined && isThenable(r)) return r.then(() => s.TotSetVBucketMetaDataOk.inc());
    s.TotSetVBucketMetaDataOk.inc();
    return undefined;
  }

  #streamEnded(vbs: VBucket, reason: number): void {
    const s = this.s;
    const server = vbs.worker?.server ?? '';
    vbs.state = '';
    vbs.opaque = 0;
    vbs.conn = null;
    vbs.worker = null;
    if (reason === 0 && this.opts.seqEnd.has(vbs.id)) {
      vbs.ended = true;
      return;
    }
    if (reason === 7 && this.collections) {
      // Filter empty: every collection of the filter was dropped (its drop events came first).
      // A scope filter waits for a scope of that name to exist again; ids never come back.
      if (this.collections.filterScope !== undefined) {
        this.log.info({ vb: vbs.id }, 'stream filter empty: waiting for the scope to exist again');
        this.#waitingForScope.add(vbs);
        this.#refreshManifest();
        return;
      }
      this.log.info({ vb: vbs.id }, 'stream filter empty: every filtered collection was dropped');
      vbs.ended = true;
      return;
    }
    if (reason === 2) {
      // vbucket state changed (moved): refresh the map, then re-request where it now lives.
      s.TotUPRStreamEndKick.inc();
      this.kick(`stream end (state changed) for vbucket ${vbs.id}`);
      this.vbIdle(vbs, this.nextRetryDelay(vbs));
      return;
    }
    if (reason !== 1 && reason !== 6 && reason !== 0) {
      this.reportError(
        ErrStream(
          server,
          vbs.id,
          `stream ended unexpectedly (reason ${reason}); re-requesting from the last metadata`,
        ),
      );
    }
    this.vbIdle(vbs, reason === 6 ? 0 : this.nextRetryDelay(vbs));
  }

  doRollback(vbs: VBucket, rollbackSeq: number): unknown {
    const s = this.s;
    s.TotUPRStreamReqResRollbackStart.inc();
    const uuid = uuidForRollback(vbs.meta.failOverLog, rollbackSeq);
    const rec = this.receiver;
    const after = (): unknown => {
      vbs.lastSeq = Math.min(vbs.lastSeq, rollbackSeq);
      const r = this.setMeta(vbs, rolledBackMetaData(vbs.meta, rollbackSeq));
      // The request task queues behind this one, so it reads the metadata just written.
      this.vbIdle(vbs);
      return r;
    };
    const r = rec.rollbackEx ? rec.rollbackEx(vbs.id, uuid, rollbackSeq) : rec.rollback(vbs.id, rollbackSeq);
    if (r !== undefined && isThenable(r)) return r.then(after);
    return after();
  }
}

function snapshotAck(opaque: number): Buffer {
  const b = Buffer.alloc(24);
  b[0] = 0x81;
  b[1] = 0x56;
  b.writeUInt32BE(opaque >>> 0, 12);
  return b;
}
