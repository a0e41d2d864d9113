// Shared harness for the e2e pipeline, fault and soak suites:
// cluster → datasource → mutation stream client → TCP → mutation stream server → channel index
// → `_changes` HTTP server. Each half can run on its own so faults can hit either.
import {
  type ChannelIndex,
  createChangesServer,
  createChannelIndex,
  createUserStore,
} from '@tributary/channel-index';
import { type Cluster, startCluster } from '@tributary/cluster';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { Store } from '@tributary/core';
import {
  type BucketDataSource,
  type BucketDataSourceOptions,
  createBucketDataSource,
  encodeMetaData,
  type MetaDataResult,
  type Receiver,
} from '@tributary/datasource';
import { createMetrics, type MetricsRegistry } from '@tributary/metrics';
import {
  createMutationStreamClient,
  createMutationStreamServer,
  type MutationStreamServer,
} from '@tributary/transport';

export const USERS = { Administrator: 'password' };
export const ADMIN = { username: 'admin', password: 'admin-pw' };
export const BUCKET = 'default';

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 20 } = {},
): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    // A condition that itself hangs (a store call that never answers) must not hang the wait.
    let timer: NodeJS.Timeout | undefined;
    const left = Math.max(1, timeoutMs - (Date.now() - t0));
    const hung = new Promise<'hung'>((r) => {
      timer = setTimeout(() => r('hung'), left);
    });
    const ok = await Promise.race([Promise.resolve(cond()), hung]).finally(() => clearTimeout(timer));
    if (ok === 'hung')
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (the check itself never answered)`,
      );
    if (ok) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function startTestCluster(
  nodes = 2,
  extra: Partial<Parameters<typeof startCluster>[0]> = {},
): Promise<Cluster> {
  return startCluster({
    nodes,
    vbuckets: 1024,
    buckets: [BUCKET],
    users: USERS,
    expiryPagerIntervalMs: 200,
    ...extra,
  });
}

// ------------------------------------------------------------------ indexer (server side)

export interface Indexer {
  index: ChannelIndex;
  server: MutationStreamServer;
  endpoint: { host: string; port: number };
  url: string;
  metrics: MetricsRegistry;
  errors: unknown[];
  /** Rollbacks applied because a vbucket began again below what was indexed. */
  rollbacks: number;
  getMeta(vb: number): Promise<MetaDataResult>;
  close(): Promise<void>;
}

export interface IndexerOptions {
  store: Store;
  port?: number;
  httpPort?: number;
  /** A slow receiver: apply at most this many mutations per second. */
  maxRate?: number;
  maxQueuedEvents?: number;
}

/**
 * The receiving half: a mutation stream server feeding a channel index, plus the `_changes`
 * server. A `begin` below what is indexed is a rollback; each begin records the stream's vbucket
 * UUID as the vbucket's datasource metadata (in the index batch, in order with the mutations), so a
 * restarted producer resumes on the right branch.
 */
export async function startIndexer(o: IndexerOptions): Promise<Indexer> {
  const metrics = createMetrics();
  const errors: unknown[] = [];
  const index = createChannelIndex({ store: o.store, metrics, onError: (e) => errors.push(e) });
  await index.ready();
  const server = createMutationStreamServer({
    listen: { host: '127.0.0.1', port: o.port ?? 0 },
    factory: createTcpFactory(),
    metrics,
    maxQueuedEvents: o.maxQueuedEvents,
  });
  const endpoint = await server.start();
  const me: Indexer = {
    index,
    server,
    endpoint,
    url: '',
    metrics,
    errors,
    rollbacks: 0,
    getMeta: (vb) => index.getMetaData(vb),
    close: async () => {},
  };
  let applied = 0;
  const t0 = Date.now();
  const pump = (async () => {
    for await (const ev of server) {
      if (ev.type === 'batch') {
        if (o.maxRate) {
          applied += ev.mutations.length;
          const due = t0 + (applied / o.maxRate) * 1000 - Date.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
        }
        await index.applyBatch(ev);
      } else if (ev.type === 'begin') {
        const { lastSeq } = await index.getMetaData(ev.vbucket);
        if (ev.startSeqno < lastSeq) {
          me.rollbacks++;
          await index.rollback(ev.vbucket, ev.startSeqno);
        }
        await index.setMetaData(
          ev.vbucket,
          encodeMetaData({
            seqStart: ev.startSeqno,
            seqEnd: Number.MAX_SAFE_INTEGER,
            snapStart: ev.startSeqno,
            snapEnd: ev.startSeqno,
            failOverLog: [{ vbucketUuid: ev.vbuuid, seqno: ev.startSeqno }],
          }),
        );
      } else if (ev.type === 'error') errors.push(ev.error);
    }
  })().catch((e) => errors.push(e));
  const changes = createChangesServer({
    databases: { db: { index, users: createUserStore({ store: o.store }) } },
    admin: ADMIN,
    metrics,
  });
  const { url } = await changes.listen({ port: o.httpPort ?? 0 });
  me.url = url;
  me.close = async () => {
    await changes.close();
    await server.close();
    await pump;
    await index.close();
  };
  return me;
}

// ------------------------------------------------------------------ producer (datasource side)

export interface Producer {
  ds: BucketDataSource;
  errors: unknown[];
  sent: () => number;
  clientStats: () => Record<string, number>;
  close(): Promise<void>;
}

export interface ProducerOptions {
  serverUrls: string[];
  endpoint: { host: string; port: number };
  getMeta(vb: number): Promise<MetaDataResult>;
  dsOptions?: BucketDataSourceOptions;
  connections?: number;
  maxInFlight?: number;
  metrics?: MetricsRegistry;
}

/** The sending half: a datasource whose receiver forwards every change to a mutation stream client. */
export async function startProducer(o: ProducerOptions): Promise<Producer> {
  const errors: unknown[] = [];
  const client = createMutationStreamClient({
    endpoint: o.endpoint,
    factory: createTcpFactory(),
    connections: o.connections ?? 2,
    maxInFlight: o.maxInFlight ?? 4096,
    backoff: { startMs: 20, maxMs: 500 },
    metrics: o.metrics,
    onError: (e) => errors.push(e),
  });
  await client.connect();
  const last = new Map<number, number>();
  const begun = new Map<number, bigint>();
  const meta = new Map<number, Uint8Array>();
  const loaded = new Set<number>();
  const highWater = Math.floor((o.maxInFlight ?? 4096) / 2);
  let sent = 0;
  const forward = async (
    vb: number,
    key: Buffer,
    seq: number,
    req: Parameters<Receiver['dataUpdate']>[3],
  ) => {
    if (begun.get(vb) !== req.vbucketUuid) {
      await client.beginVbucket(vb, req.vbucketUuid, { startSeqno: last.get(vb) ?? 0 });
      begun.set(vb, req.vbucketUuid);
    }
    last.set(vb, seq);
    sent++;
    const p = client.send({
      vbucket: vb,
      seqno: seq,
      vbuuid: req.vbucketUuid,
      key: Buffer.from(key),
      value: Buffer.from(req.value),
      kind: req.kind,
      cas: req.cas,
      flags: req.flags,
      expiry: req.expiry,
    });
    // Back-pressure: hold this vbucket (and so DCP flow control) while too much is unacknowledged.
    if (client.inFlight >= highWater) return p;
    p.catch((e) => errors.push(e));
  };
  const receiver: Receiver = {
    onError: (e) => errors.push(e),
    dataUpdate: forward,
    dataDelete: forward,
    snapshotStart: () => {},
    setMetaData: (vb, value) => void meta.set(vb, Buffer.from(value)),
    getMetaData: async (vb) => {
      if (!loaded.has(vb)) {
        const r = await o.getMeta(vb);
        loaded.add(vb);
        last.set(vb, r.lastSeq);
        if (r.value) meta.set(vb, Buffer.from(r.value));
      }
      const value = meta.get(vb);
      const lastSeq = last.get(vb) ?? 0;
      return value ? { value, lastSeq } : { lastSeq };
    },
    rollback: async (vb, seq) => {
      last.set(vb, seq);
      begun.delete(vb);
    },
    rollbackEx: async (vb, uuid, seq) => {
      last.set(vb, seq);
      await client.beginVbucket(vb, uuid, { startSeqno: seq });
      begun.set(vb, uuid);
    },
  };
  const ds = createBucketDataSource({
    serverUrls: o.serverUrls,
    bucketName: BUCKET,
    auth: { username: 'Administrator', password: USERS.Administrator },
    receiver,
    options: {
      seqnoPollIntervalMs: 0,
      dataManagerSleepMaxMs: 200,
      clusterManagerSleepMaxMs: 200,
      metrics: o.metrics,
      ...o.dsOptions,
    },
  });
  await ds.start();
  return {
    ds,
    errors,
    sent: () => sent,
    clientStats: () => client.stats() as unknown as Record<string, number>,
    close: async () => {
      await ds.close();
      await client.close({ drain: true, timeoutMs: 5000 }).catch(() => client.close({ drain: false }));
    },
  };
}

/** Every vbucket's indexed (queued or written) seqno reached the cluster's high seqno. */
export async function caughtUp(
  cluster: Cluster,
  getMeta: (vb: number) => Promise<MetaDataResult>,
): Promise<boolean> {
  const high = cluster.bucket(BUCKET).highSeqnos();
  for (let vb = 0; vb < high.length; vb++) {
    if ((high[vb] ?? 0) === 0) continue;
    if ((await getMeta(vb)).lastSeq < high[vb]!) return false;
  }
  return true;
}
