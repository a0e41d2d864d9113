import { type Cluster, startCluster } from '@tributary/cluster';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { Connection, ConnectionFactory } from '@tributary/core';
import { isTributaryError } from '@tributary/core';
import { createMemoryStore } from '@tributary/store-memory';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BucketDataSource,
  createBucketDataSource,
  createStoreCheckpoints,
  type StreamEvent,
  streamBucket,
} from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

const USERS = { app: 'secret' };

describe('resume, ping timeout, streamBucket', () => {
  let cluster: Cluster | undefined;
  const toClose: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of toClose.splice(0)) await c.close();
    await cluster?.close();
    cluster = undefined;
  });

  it('a restart resumes from the saved checkpoints and replays at most one snapshot per vbucket', async () => {
    cluster = await startCluster({ nodes: 2, vbuckets: 1024, buckets: ['default'], users: USERS });
    const b = cluster.bucket('default');
    const store = createMemoryStore();
    toClose.push(store);
    const serverUrls = cluster.nodes.map((n) => `http://127.0.0.1:${n.mgmtPort}`);
    const docs = new Map<string, string>();
    type Seen = { vb: number; seq: number };
    const run = (seen: Seen[], lastSnap: Map<number, [number, number]>) => {
      const ck = createStoreCheckpoints(store, { prefix: 'ck/' });
      const ds = createBucketDataSource({
        serverUrls,
        bucketName: 'default',
        auth: { username: 'app', password: 'secret' },
        receiver: ck.receiver({
          dataUpdate: (vb, key, seq, req) => {
            seen.push({ vb, seq });
            docs.set(key.toString(), req.value.toString());
          },
          dataDelete: (vb, key, seq) => {
            seen.push({ vb, seq });
            docs.delete(key.toString());
          },
          snapshotStart: (vb, s, e) => {
            lastSnap.set(vb, [s, e]);
          },
        }),
      });
      return { ds, ck };
    };
    for (let i = 0; i < 20_000; i++) b.upsert(`key${i % 6000}`, `a${i}`);
    const seen1: Seen[] = [];
    const snaps1 = new Map<number, [number, number]>();
    const one = run(seen1, snaps1);
    await one.ds.start();
    const hs = () => b.highSeqnos();
    await waitFor(() => {
      const h = hs();
      const got = new Map<number, number>();
      for (const s of seen1) got.set(s.vb, Math.max(got.get(s.vb) ?? 0, s.seq));
      return h.every((x, vb) => (got.get(vb) ?? 0) >= x);
    }, 'first run caught up');
    // more writes while the first process is still running, then a crash-like stop: no flush
    for (let i = 20_000; i < 24_000; i++) b.upsert(`key${i % 6000}`, `b${i}`);
    await waitFor(() => docs.get(`key${23_999 % 6000}`) === 'b23999', 'second batch seen');
    await one.ds.close();
    const last1 = new Map<number, number>();
    for (const s of seen1) last1.set(s.vb, Math.max(last1.get(s.vb) ?? 0, s.seq));

    for (let i = 24_000; i < 26_000; i++) b.upsert(`key${i % 6000}`, `c${i}`);
    const seen2: Seen[] = [];
    const two = run(seen2, new Map());
    await two.ds.start();
    await waitFor(() => {
      for (let i = 0; i < 6000; i++)
        if (docs.get(`key${i}`) !== b.get(`key${i}`)?.value.toString()) return false;
      return true;
    }, 'second run consistent with the bucket');
    await two.ds.close();
    // replayed = delivered again at or below what the first run had already delivered
    let replayed = 0;
    for (const s of seen2) {
      const l = last1.get(s.vb) ?? 0;
      if (s.seq <= l) {
        replayed++;
        const snap = snaps1.get(s.vb);
        expect(snap, `vbucket ${s.vb} replayed without a snapshot`).toBeDefined();
        // only items of the last snapshot of the first run come again
        expect(s.seq).toBeGreaterThanOrEqual(snap![0]);
      }
    }
    expect(seen2.length).toBeGreaterThan(0);
    // per vbucket, no more replays than the items of the first run's last snapshot
    const inLastSnap = new Map<number, number>();
    for (const s of seen1)
      if (s.seq >= snaps1.get(s.vb)![0]) inLastSnap.set(s.vb, (inLastSnap.get(s.vb) ?? 0) + 1);
    const replayedBy = new Map<number, number>();
    for (const s of seen2)
      if (s.seq <= (last1.get(s.vb) ?? 0)) replayedBy.set(s.vb, (replayedBy.get(s.vb) ?? 0) + 1);
    for (const [vb, n] of replayedBy) expect(n).toBeLessThanOrEqual(inLastSnap.get(vb) ?? 0);
    expect(replayed).toBeLessThan(seen1.length);
    // the second run started from the checkpoints, not from zero
    const firstSeq2 = new Map<number, number>();
    for (const s of seen2) if (!firstSeq2.has(s.vb)) firstSeq2.set(s.vb, s.seq);
    expect([...firstSeq2.values()].some((s) => s > 1)).toBe(true);
  }, 60_000);

  it('a silent connection: NOOP after pingTimeoutMs, dropped after another, reconnected', async () => {
    cluster = await startCluster({ nodes: 1, vbuckets: 64, buckets: ['default'], users: USERS });
    const b = cluster.bucket('default');
    const tcp = createTcpFactory();
    const sockets: Connection[] = [];
    const factory: ConnectionFactory = {
      name: 'spy',
      connect: async (ep, o) => {
        const c = await tcp.connect(ep, o);
        sockets.push(c);
        return c;
      },
      listen: (ep, on) => tcp.listen(ep, on),
    };
    const r = new MirrorReceiver();
    const ds: BucketDataSource = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: {
        connectionFactory: factory,
        pingTimeoutMs: 100,
        seqnoPollIntervalMs: 0,
        dataManagerSleepInitMs: 10,
      },
    });
    toClose.push(ds);
    await ds.start();
    b.upsert('k1', 'v1');
    await waitFor(() => r.docs.has('k1'), 'first doc');
    // the peer goes silent: we stop reading the socket (nothing arrives any more)
    sockets[0]!.pause();
    sockets[0]!.removeAllListeners('data');
    await waitFor(() => ds.stats().TotPingTimeout >= 1, 'ping timeout');
    expect(ds.stats().TotPingReq).toBeGreaterThanOrEqual(1);
    expect(r.errors.some((e) => isTributaryError(e, 'TRIB_DATASOURCE_CONNECTION_LOST'))).toBe(true);
    b.upsert('k2', 'v2');
    await waitFor(() => r.docs.has('k2'), 'doc after reconnect');
    expect(sockets.length).toBeGreaterThanOrEqual(2);
    expect(r.orderViolations).toEqual([]);
  }, 30_000);

  it('streamBucket yields events in per-vbucket order and resumes from its checkpoints', async () => {
    cluster = await startCluster({ nodes: 2, vbuckets: 128, buckets: ['default'], users: USERS });
    const b = cluster.bucket('default');
    for (let i = 0; i < 500; i++) b.upsert(`k${i}`, `v${i}`);
    for (let i = 0; i < 50; i++) b.remove(`k${i}`);
    const store = createMemoryStore();
    toClose.push(store);
    const params = {
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
    };
    const state = new Map<string, string>();
    const last = new Map<number, number>();
    const consume = async (stream: AsyncIterable<StreamEvent>, until: () => boolean) => {
      for await (const ev of stream) {
        if (ev.type === 'mutation') state.set(ev.key.toString(), ev.req.value.toString());
        else if (ev.type === 'deletion' || ev.type === 'expiration') state.delete(ev.key.toString());
        if (ev.type !== 'error' && ev.type !== 'snapshot' && ev.type !== 'rollback') {
          expect(ev.seq).toBeGreaterThan(last.get(ev.vbucket) ?? 0);
          last.set(ev.vbucket, ev.seq);
        }
        if (until()) break;
      }
    };
    const s1 = streamBucket({ ...params, checkpoints: createStoreCheckpoints(store) });
    await consume(s1, () => state.size === 450 && !state.has('k0'));
    expect(state.size).toBe(450);
    for (let i = 500; i < 520; i++) b.upsert(`k${i}`, `v${i}`);
    const s2 = streamBucket({ ...params, checkpoints: createStoreCheckpoints(store) });
    let count = 0;
    await consume(s2, () => ++count > 0 && state.size === 470);
    expect(state.get('k519')).toBe('v519');
    // resumed: far fewer events than a full replay of 520 writes
    expect(count).toBeLessThan(200);
  }, 30_000);
});
