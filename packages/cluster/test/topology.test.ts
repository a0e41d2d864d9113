import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DcpStreamEndReason,
  decodeDcpStreamReqResponse,
  HelloFeature,
  Opcode,
  Status,
} from '@tributary/codec';
import { createLmdbStore } from '@tributary/store-lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import {
  bootstrap,
  type DcpEvent,
  dcpOpen,
  eventsFor,
  FEATURES,
  streamReq,
  TestClient,
} from './helpers/client.js';

const VBS = 8;
let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function keysFor(c: Cluster, vb: number, n: number, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++)
    if (c.bucket('default').vbucketOf(`${prefix}${i}`) === vb) out.push(`${prefix}${i}`);
  return out;
}

async function dcpOn(c: Cluster, node: number, features: number[] = FEATURES): Promise<TestClient> {
  const t = await TestClient.connect(c.nodes[node].kvPort);
  await bootstrap(t, { bucket: 'default', features });
  await dcpOpen(t, `topo:${node}:${Math.random()}`);
  return t;
}

const items = (evs: DcpEvent[]) => evs.filter((e) => e.type === 'mutation' || e.type === 'deletion');

describe('topology and faults', () => {
  it('failover with loseLast: the new active rolls a consumer back past the lost mutations', async () => {
    cluster = await startCluster({
      nodes: 2,
      vbuckets: VBS,
      buckets: ['default'],
      users: { Administrator: 'password' },
    });
    const b = cluster.bucket('default');
    const vb = 1;
    const owner = cluster.vbucketMap()[vb][0];
    const keys = keysFor(cluster, vb, 10, 'fo');
    for (const k of keys) b.upsert(k, k);
    const c = await dcpOn(cluster, owner);
    const r = await streamReq(c, { vbucket: vb, opaque: 1 });
    const oldUuid = decodeDcpStreamReqResponse(r).failoverLog![0].vbucketUuid;
    await c.until(() => items(eventsFor(c, 1)).length === 10, 5000, 'all items');
    const lastSeen = items(eventsFor(c, 1)).at(-1)!.seqno!;
    // A second consumer on the replica node sees its stream end with state-changed.
    const replicaNode = 1 - owner;
    const onReplica = await dcpOn(cluster, replicaNode);
    expect((await streamReq(onReplica, { vbucket: vb, opaque: 9 })).status).toBe(0);
    const revBefore = cluster.rev;
    await cluster.failover(owner, { loseLast: 3 });
    await c.closedPromise(); // the failed node is gone
    expect(cluster.rev).toBeGreaterThan(revBefore);
    expect(cluster.vbucketMap()[vb][0]).toBe(replicaNode);
    await onReplica.until(
      () => eventsFor(onReplica, 9).some((e) => e.type === 'end'),
      5000,
      'state-changed end',
    );
    expect(eventsFor(onReplica, 9).find((e) => e.type === 'end')!.reason).toBe(
      DcpStreamEndReason.StateChanged,
    );
    expect(b.highSeqnos()[vb]).toBe(lastSeen - 3);
    const log = b.failoverLog(vb);
    expect(log[0].seqno).toBe(lastSeen - 3);
    expect(log[1].vbucketUuid).toBe(oldUuid);
    // Resume on the new active with what the consumer had: roll back to the failover seqno.
    const c2 = await dcpOn(cluster, replicaNode);
    const rr = await streamReq(c2, {
      vbucket: vb,
      opaque: 2,
      startSeqno: lastSeen,
      vbucketUuid: oldUuid,
      snapStart: lastSeen,
      snapEnd: lastSeen,
    });
    expect(rr.status).toBe(Status.Rollback);
    const to = Number(rr.value.readBigUInt64BE(0));
    expect(to).toBe(lastSeen - 3);
    const ok = await streamReq(c2, {
      vbucket: vb,
      opaque: 3,
      startSeqno: to,
      vbucketUuid: oldUuid,
      snapStart: to,
      snapEnd: to,
    });
    expect(ok.status).toBe(0);
    // The lost documents are gone; the survivors are intact.
    expect(b.get(keys[9])).toBeUndefined();
    expect(b.get(keys[6])?.value.toString()).toBe(keys[6]);
    // New writes continue from the truncated high seqno.
    b.upsert(keys[9], 'after');
    await c2.until(() => items(eventsFor(c2, 3)).some((e) => e.key === keys[9]), 5000, 'post-failover item');
    expect(items(eventsFor(c2, 3)).find((e) => e.key === keys[9])!.seqno).toBe(to + 1);
    c2.close();
    onReplica.close();
  });

  it('failover with loss restores a document’s previous version', async () => {
    cluster = await startCluster({
      nodes: 2,
      vbuckets: VBS,
      buckets: ['default'],
      users: { Administrator: 'password' },
    });
    const b = cluster.bucket('default');
    const [k] = keysFor(cluster, 2, 1, 'pv');
    b.upsert(k, 'v1');
    b.upsert(k, 'v2');
    await cluster.failover(cluster.vbucketMap()[2][0], { loseLast: 1 });
    expect(b.get(k)?.value.toString()).toBe('v1');
  });

  it('rebalance under a live stream: STREAM_END state-changed, rev bump pushed, resume on the new node without rollback', async () => {
    cluster = await startCluster({
      nodes: 2,
      vbuckets: VBS,
      buckets: ['default'],
      users: { Administrator: 'password' },
    });
    const b = cluster.bucket('default');
    const vb = 3;
    const from = cluster.vbucketMap()[vb][0];
    const to = 1 - from;
    const keys = keysFor(cluster, vb, 20, 'rb');
    for (const k of keys.slice(0, 10)) b.upsert(k, k);
    const features = [...FEATURES, HelloFeature.Duplex, HelloFeature.ClustermapChangeNotification];
    const c = await dcpOn(cluster, from, features);
    // A duplex connection with no bucket selected gets the cluster config (GCCCP) pushed.
    const global = await TestClient.connect(cluster.nodes[to].kvPort);
    await bootstrap(global, { features });
    const r = await streamReq(c, { vbucket: vb, opaque: 5 });
    const uuid = decodeDcpStreamReqResponse(r).failoverLog![0].vbucketUuid;
    await c.until(() => items(eventsFor(c, 5)).length === 10, 5000, 'first half');
    const rev = cluster.rev;
    await cluster.rebalance({ moves: [{ vbucket: vb, to }] });
    await c.until(() => eventsFor(c, 5).some((e) => e.type === 'end'), 5000, 'stream end');
    expect(eventsFor(c, 5).find((e) => e.type === 'end')!.reason).toBe(DcpStreamEndReason.StateChanged);
    expect(cluster.rev).toBe(rev + 1);
    // Duplex clients got the new config pushed (0x82 / 0x01).
    await c.until(
      () => c.events.some((e) => e.packet.magic === 0x82 && e.opcode === 0x01),
      5000,
      'config push',
    );
    const push = c.events.find((e) => e.packet.magic === 0x82)!;
    expect(JSON.parse(push.packet.value.toString()).rev).toBe(rev + 1);
    await global.until(() => global.events.some((e) => e.packet.magic === 0x82), 5000, 'global config push');
    const gpush = global.events.filter((e) => e.packet.magic === 0x82);
    expect(gpush).toHaveLength(1);
    expect(gpush[0].packet.key.length).toBe(0);
    const gcfg = JSON.parse(gpush[0].packet.value.toString());
    expect([gcfg.rev, gcfg.vBucketServerMap, gcfg.nodesExt.length]).toEqual([rev + 1, undefined, 2]);
    global.close();
    // More writes land on the new active; the consumer resumes there from where it was.
    for (const k of keys.slice(10)) b.upsert(k, k);
    const last = items(eventsFor(c, 5)).at(-1)!.seqno!;
    const c2 = await dcpOn(cluster, to);
    const r2 = await streamReq(c2, {
      vbucket: vb,
      opaque: 6,
      startSeqno: last,
      vbucketUuid: uuid,
      snapStart: last,
      snapEnd: last,
    });
    expect(r2.status).toBe(0);
    await c2.until(() => items(eventsFor(c2, 6)).length === 10, 5000, 'second half');
    expect(items(eventsFor(c2, 6))[0].seqno).toBe(last + 1);
    // The old node now answers NOT_MY_VBUCKET for it.
    const old = await TestClient.connect(cluster.nodes[from].kvPort);
    await bootstrap(old, { bucket: 'default' });
    expect((await old.call({ opcode: Opcode.Get, vbucket: vb, key: keys[0] })).status).toBe(
      Status.NotMyVbucket,
    );
    old.close();
    c.close();
    c2.close();
  });

  it('stopNode / startNode: streams die with the node, data comes back with it', async () => {
    cluster = await startCluster({
      nodes: 2,
      vbuckets: VBS,
      buckets: ['default'],
      users: { Administrator: 'password' },
    });
    const b = cluster.bucket('default');
    const vb = 4;
    const node = cluster.vbucketMap()[vb][0];
    const keys = keysFor(cluster, vb, 5, 'sn');
    for (const k of keys) b.upsert(k, k);
    const c = await dcpOn(cluster, node);
    const r = await streamReq(c, { vbucket: vb, opaque: 1 });
    const uuid = decodeDcpStreamReqResponse(r).failoverLog![0].vbucketUuid;
    await c.until(() => items(eventsFor(c, 1)).length === 5, 5000, 'items');
    const port = cluster.nodes[node].kvPort;
    await cluster.stopNode(node);
    await c.closedPromise();
    expect(cluster.nodes[node].running).toBe(false);
    expect(() => b.upsert(keys[0], 'x')).toThrow(
      expect.objectContaining({ code: 'TRIB_CLUSTER_VBUCKET_UNAVAILABLE' }),
    );
    await expect(TestClient.connect(port)).rejects.toThrow();
    await cluster.startNode(node);
    expect(cluster.nodes[node].kvPort).toBe(port);
    expect(b.get(keys[4])?.value.toString()).toBe(keys[4]);
    const log = b.failoverLog(vb);
    expect(log[1].vbucketUuid).toBe(uuid); // restart opened a new entry, history kept
    const c2 = await dcpOn(cluster, node);
    const r2 = await streamReq(c2, {
      vbucket: vb,
      opaque: 2,
      startSeqno: 5,
      vbucketUuid: uuid,
      snapStart: 5,
      snapEnd: 5,
    });
    expect(r2.status).toBe(0);
    b.upsert(keys[0], 'after restart');
    await c2.until(() => items(eventsFor(c2, 2)).some((e) => e.seqno === 6), 5000, 'resumed');
    c2.close();
  });

  it('restart with a durable store (lmdb): documents, seqnos and failover history survive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trib-cluster-'));
    try {
      let store = createLmdbStore({ path: join(dir, 'db') });
      cluster = await startCluster({
        nodes: 1,
        vbuckets: VBS,
        buckets: ['default'],
        users: { Administrator: 'password' },
        store,
      });
      const b = cluster.bucket('default');
      for (let i = 0; i < 50; i++) b.upsert(`doc-${i}`, { i });
      b.remove('doc-7');
      const highs = b.highSeqnos();
      const uuid0 = b.failoverLog(0)[0].vbucketUuid;
      const bucketUuid = b.uuid;
      await cluster.close();
      await store.close();
      store = createLmdbStore({ path: join(dir, 'db') });
      cluster = await startCluster({
        nodes: 1,
        vbuckets: VBS,
        buckets: ['default'],
        users: { Administrator: 'password' },
        store,
      });
      const b2 = cluster.bucket('default');
      expect(b2.uuid).toBe(bucketUuid);
      expect(b2.highSeqnos()).toEqual(highs);
      expect(JSON.parse(b2.get('doc-42')!.value.toString())).toEqual({ i: 42 });
      expect(b2.get('doc-7')).toBeUndefined();
      expect(b2.failoverLog(0)[1].vbucketUuid).toBe(uuid0);
      // A consumer that had everything resumes without rollback; one from zero gets the tombstone.
      const c = await dcpOn(cluster, 0);
      const vb7 = b2.vbucketOf('doc-7');
      const h = highs[0];
      expect(
        (
          await streamReq(c, {
            vbucket: 0,
            opaque: 1,
            startSeqno: h,
            vbucketUuid: uuid0,
            snapStart: h,
            snapEnd: h,
          })
        ).status,
      ).toBe(0);
      expect((await streamReq(c, { vbucket: vb7, opaque: 2 })).status).toBe(0);
      await c.until(
        () => eventsFor(c, 2).some((e) => e.type === 'deletion' && e.key === 'doc-7'),
        5000,
        'tombstone',
      );
      c.close();
      await cluster.close();
      cluster = undefined;
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
