import { type Cluster, startCluster } from '@tributary/cluster';
import { isTributaryError } from '@tributary/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type BucketDataSource, createBucketDataSource } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

const USERS = { app: 'secret' };

function urls(c: Cluster): string[] {
  return c.nodes.map((n) => `http://127.0.0.1:${n.mgmtPort}`);
}

/** The bucket's live documents over a key space, read through the cluster's own API. */
function bucketState(c: Cluster, keys: number): Map<string, string> {
  const b = c.bucket('default');
  const m = new Map<string, string>();
  for (let i = 0; i < keys; i++) {
    try {
      const g = b.get(`key${i}`);
      if (g) m.set(`key${i}`, g.value.toString());
    } catch {
      // vbucket unavailable: not expected after healing
    }
  }
  return m;
}

function sameState(r: MirrorReceiver, expected: Map<string, string>): boolean {
  if (r.docs.size !== expected.size) return false;
  for (const [k, v] of expected) if (r.docs.get(k)?.value !== v) return false;
  return true;
}

function write(c: Cluster, from: number, to: number, keys: number, tag: string): number {
  const b = c.bucket('default');
  let ok = 0;
  for (let i = from; i < to; i++) {
    const k = `key${(i * 7919) % keys}`;
    try {
      if (i % 10 === 9) {
        if (b.get(k)) b.remove(k);
      } else b.upsert(k, `${tag}${i}`);
      ok++;
    } catch {
      // its active node is down: the application would retry; the model reads the bucket at the end
    }
  }
  return ok;
}

async function caughtUp(c: Cluster, r: MirrorReceiver, what: string, timeoutMs = 30_000): Promise<void> {
  const b = c.bucket('default');
  await waitFor(
    () => {
      const hs = b.highSeqnos();
      for (let vb = 0; vb < hs.length; vb++) if ((r.lastSeq.get(vb) ?? 0) < hs[vb]!) return false;
      return true;
    },
    what,
    timeoutMs,
    50,
  );
}

describe('faults', () => {
  let cluster: Cluster | undefined;
  let ds: BucketDataSource | undefined;
  afterEach(async () => {
    await ds?.close();
    await cluster?.close();
    ds = undefined;
    cluster = undefined;
  });

  function start(c: Cluster, r: MirrorReceiver, options = {}) {
    ds = createBucketDataSource({
      serverUrls: urls(c),
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { seqnoPollIntervalMs: 100, ...options },
    });
    return ds.start();
  }

  it('a node killed and restarted mid-stream: reconnects, nothing lost, order kept', async () => {
    const KEYS = 5000;
    cluster = await startCluster({ nodes: 2, vbuckets: 1024, buckets: ['default'], users: USERS });
    const r = new MirrorReceiver();
    await start(cluster, r);
    write(cluster, 0, 10_000, KEYS, 'a');
    await waitFor(() => r.mutations > 1000, 'streaming from both nodes');
    await cluster.stopNode(1);
    write(cluster, 10_000, 15_000, KEYS, 'b'); // half of these fail: node 1 is down
    await waitFor(() => (ds?.stats().TotWorkerConnectErr ?? 0) > 0, 'reconnect attempts to the dead node');
    await cluster.startNode(1);
    write(cluster, 15_000, 20_000, KEYS, 'c');
    await caughtUp(cluster, r, 'receiver caught up after restart');
    const expected = bucketState(cluster, KEYS);
    await waitFor(() => sameState(r, expected), 'receiver state == bucket state').catch((e) => {
      const d: string[] = [];
      for (const [k, v] of expected)
        if (r.docs.get(k)?.value !== v)
          d.push(`${k}@${cluster!.bucket('default').vbucketOf(k)} want ${v} got ${r.docs.get(k)?.value}`);
      for (const k of r.docs.keys())
        if (!expected.has(k))
          d.push(`extra ${k}@${cluster!.bucket('default').vbucketOf(k)} ${r.docs.get(k)?.value}`);
      const vbx = cluster!.bucket('default').vbucketOf(d[0]!.split('@')[0]!.replace('extra ', ''));
      console.log(
        d.length,
        d.slice(0, 4),
        ds!.stats().TotWorkerBodyKick,
        r.rollbacks.length,
        r.rollbacks.filter((x) => x.vb === vbx),
        vbx,
        r.lastSeq.get(vbx),
        cluster!.bucket('default').highSeqnos()[vbx],
        cluster!.bucket('default').failoverLog(vbx),
        ds!.stats().vbuckets[vbx],
        r.log.get(vbx)?.length,
      );
      throw e;
    });
    const st = ds!.stats();
    expect(r.orderViolations).toEqual([]);
    expect(st.TotWorkerBodyKick).toBeGreaterThan(0);
    expect(r.errors.some((e) => isTributaryError(e, 'TRIB_DATASOURCE_CONNECTION_LOST'))).toBe(true);
    expect(st.vbuckets.every((v) => v.state === 'running')).toBe(true);
  }, 60_000);

  it('a failover that loses mutations: rollback to the failover seqno, final state equal', async () => {
    const KEYS = 4000;
    cluster = await startCluster({ nodes: 2, vbuckets: 1024, buckets: ['default'], users: USERS });
    const b = cluster.bucket('default');
    const r = new MirrorReceiver(true);
    r.vbOf = (k) => b.vbucketOf(k);
    await start(cluster, r);
    write(cluster, 0, 12_000, KEYS, 'a');
    await caughtUp(cluster, r, 'caught up before failover');
    const before = b.highSeqnos();
    const onNode1 = cluster
      .vbucketMap()
      .map((row, vb) => (row[0] === 1 ? vb : -1))
      .filter((vb) => vb >= 0);
    await cluster.failover(1, { loseLast: 3 });
    await waitFor(
      () => r.rollbacks.length >= onNode1.filter((vb) => before[vb]! > 0).length,
      'rollbacks of the lost vbuckets',
    );
    write(cluster, 12_000, 14_000, KEYS, 'b');
    await caughtUp(cluster, r, 'caught up after failover');
    const expected = bucketState(cluster, KEYS);
    await waitFor(() => sameState(r, expected), 'receiver state == bucket state').catch((e) => {
      const d: string[] = [];
      for (const [k, v] of expected)
        if (r.docs.get(k)?.value !== v)
          d.push(`${k}@${cluster!.bucket('default').vbucketOf(k)} want ${v} got ${r.docs.get(k)?.value}`);
      for (const k of r.docs.keys())
        if (!expected.has(k))
          d.push(`extra ${k}@${cluster!.bucket('default').vbucketOf(k)} ${r.docs.get(k)?.value}`);
      const vbx = cluster!.bucket('default').vbucketOf(d[0]!.split('@')[0]!.replace('extra ', ''));
      console.log(
        d.length,
        d.slice(0, 4),
        ds!.stats().TotWorkerBodyKick,
        r.rollbacks.length,
        r.rollbacks.filter((x) => x.vb === vbx),
        vbx,
        r.lastSeq.get(vbx),
        cluster!.bucket('default').highSeqnos()[vbx],
        cluster!.bucket('default').failoverLog(vbx),
        ds!.stats().vbuckets[vbx],
        r.log.get(vbx)?.length,
      );
      throw e;
    });
    // every rollback is to the new failover entry's seqno of that vbucket (what the promoted replica has)
    for (const rb of r.rollbacks) {
      expect(onNode1).toContain(rb.vb);
      const entrySeq = b
        .failoverLog(rb.vb)
        .find((e, i, all) => i < all.length - 1 && e.seqno <= before[rb.vb]!)?.seqno;
      expect(rb.seq).toBe(Math.max(0, before[rb.vb]! - 3));
      if (entrySeq !== undefined) expect(rb.seq).toBe(entrySeq);
      expect(rb.uuid).toBeTypeOf('bigint');
    }
    expect(r.orderViolations).toEqual([]);
    expect(ds!.stats().TotUPRStreamReqResRollback).toBeGreaterThan(0);
  }, 60_000);

  it('a rebalance under load: streams move, nothing lost, order kept', async () => {
    const KEYS = 5000;
    cluster = await startCluster({ nodes: 3, vbuckets: 1024, buckets: ['default'], users: USERS });
    const r = new MirrorReceiver();
    await start(cluster, r);
    let i = 0;
    let stop = false;
    const loader = (async () => {
      while (!stop) {
        write(cluster!, i, i + 500, KEYS, 'x');
        i += 500;
        await new Promise((res) => setImmediate(res));
      }
    })();
    await waitFor(() => r.mutations > 2000, 'streaming started');
    await cluster.rebalance({ nodes: [0, 1] });
    await waitFor(() => r.mutations > 6000, 'more after the first rebalance');
    await cluster.rebalance({ nodes: [0, 1, 2] });
    await waitFor(() => r.mutations > 10_000, 'more after the second rebalance');
    stop = true;
    await loader;
    await caughtUp(cluster, r, 'caught up after rebalances');
    const expected = bucketState(cluster, KEYS);
    await waitFor(() => sameState(r, expected), 'receiver state == bucket state').catch((e) => {
      const d: string[] = [];
      for (const [k, v] of expected)
        if (r.docs.get(k)?.value !== v)
          d.push(`${k}@${cluster!.bucket('default').vbucketOf(k)} want ${v} got ${r.docs.get(k)?.value}`);
      for (const k of r.docs.keys())
        if (!expected.has(k))
          d.push(`extra ${k}@${cluster!.bucket('default').vbucketOf(k)} ${r.docs.get(k)?.value}`);
      const vbx = cluster!.bucket('default').vbucketOf(d[0]!.split('@')[0]!.replace('extra ', ''));
      console.log(
        d.length,
        d.slice(0, 4),
        ds!.stats().TotWorkerBodyKick,
        r.rollbacks.length,
        r.rollbacks.filter((x) => x.vb === vbx),
        vbx,
        r.lastSeq.get(vbx),
        cluster!.bucket('default').highSeqnos()[vbx],
        cluster!.bucket('default').failoverLog(vbx),
        ds!.stats().vbuckets[vbx],
        r.log.get(vbx)?.length,
      );
      throw e;
    });
    expect(r.orderViolations).toEqual([]);
    const st = ds!.stats();
    expect(st.TotRefreshWorkersKickWorker).toBeGreaterThan(1);
    expect(new Set(st.vbuckets.map((v) => v.server)).size).toBe(3);
  }, 60_000);

  it('a slow receiver holds its vbuckets; unacknowledged bytes stay within the flow-control window', async () => {
    const WINDOW = 256 * 1024;
    cluster = await startCluster({ nodes: 2, vbuckets: 1024, buckets: ['default'], users: USERS });
    const b = cluster.bucket('default');
    const value = 'v'.repeat(4096);
    for (let i = 0; i < 4000; i++) b.upsert(`key${i}`, `${i}:${value}`);
    const r = new MirrorReceiver();
    let delayed = 0;
    r.delay = () => {
      delayed++;
      return new Promise((res) => setTimeout(res, 2));
    };
    await start(cluster, r, { feedBufferSizeBytes: WINDOW, feedBufferAckThreshold: 0.2 });
    let maxUnacked = 0;
    let maxQueued = 0;
    const sampler = setInterval(() => {
      const st = ds!.stats();
      maxUnacked = Math.max(maxUnacked, st.unackedBytes);
      maxQueued = Math.max(
        maxQueued,
        st.vbuckets.reduce((n, v) => n + v.queued, 0),
      );
    }, 5);
    await waitFor(() => r.docs.size === 4000, 'all 4000 docs through the slow receiver', 50_000);
    clearInterval(sampler);
    // two connections, each allowed one window plus one message of overshoot
    const perMessage = 4096 + 64 + 55;
    expect(maxUnacked).toBeLessThanOrEqual(2 * (WINDOW + perMessage));
    expect(maxQueued * perMessage).toBeLessThanOrEqual(2 * (WINDOW + perMessage));
    expect(maxUnacked).toBeGreaterThan(0);
    expect(delayed).toBeGreaterThanOrEqual(4000);
    expect(ds!.stats().TotUPRBufferAck).toBeGreaterThan(10);
    expect(r.orderViolations).toEqual([]);
  }, 60_000);

  it('wrong password: TRIB_AUTH_FAILED to onError, keeps retrying with backoff until closed', async () => {
    cluster = await startCluster({ nodes: 1, vbuckets: 16, buckets: ['default'], users: USERS });
    const r = new MirrorReceiver();
    ds = createBucketDataSource({
      serverUrls: urls(cluster),
      bucketName: 'default',
      auth: { username: 'app', password: 'wrong' },
      receiver: r,
      options: { clusterManagerSleepInitMs: 10, clusterManagerSleepMaxMs: 50 },
    });
    await ds.start();
    await waitFor(
      () => r.errors.filter((e) => isTributaryError(e, 'TRIB_AUTH_FAILED')).length >= 3,
      'repeated auth errors',
    );
    const auth = r.errors.find((e) => isTributaryError(e, 'TRIB_AUTH_FAILED'));
    expect((auth as { details: Record<string, unknown> }).details.user).toBe('app');
    expect(ds.stats().TotRefreshClusterConnectBucketErr).toBeGreaterThanOrEqual(3);
    await ds.close();
    const n = r.errors.length;
    const after = ds.stats().TotRefreshCluster;
    await new Promise((res) => setTimeout(res, 150));
    expect(ds.stats().TotRefreshCluster).toBe(after);
    expect(r.errors.length).toBe(n);
  }, 30_000);

  it('every server URL unreachable: TRIB_DATASOURCE_ALL_SERVER_URLS (AllServerURLsConnectBucketError), with backoff', async () => {
    const r = new MirrorReceiver();
    // ports that were just free: nothing listens there
    const net = await import('node:net');
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const srv = net.createServer();
      await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
      ports.push((srv.address() as { port: number }).port);
      await new Promise<void>((res) => srv.close(() => res()));
    }
    const serverUrls = ports.map((p) => `http://127.0.0.1:${p}`);
    ds = createBucketDataSource({
      serverUrls,
      bucketName: 'default',
      receiver: r,
      options: { clusterManagerSleepInitMs: 20, clusterManagerSleepMaxMs: 40 },
    });
    await ds.start();
    await waitFor(
      () => r.errors.filter((e) => isTributaryError(e, 'TRIB_DATASOURCE_ALL_SERVER_URLS')).length >= 2,
      'repeated all-URLs errors',
    );
    const e = r.errors.find((x) => isTributaryError(x, 'TRIB_DATASOURCE_ALL_SERVER_URLS')) as {
      details: Record<string, unknown>;
    };
    expect(e.details.serverUrls).toEqual(serverUrls);
    const st = ds.stats();
    expect(st.TotRefreshClusterAllServerURLsConnectBucketErr).toBeGreaterThanOrEqual(2);
    expect(st.TotRefreshClusterConnectBucketErr).toBeGreaterThanOrEqual(4);
  }, 30_000);
});
