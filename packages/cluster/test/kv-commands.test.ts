// GET_META, counters, append/prepend, locks, GET_REPLICA, durability frame infos and
// OBSERVE_SEQNO on the wire (kv_engine docs/BinaryProtocol.md and the executors named in the
// handlers), on a 2-node cluster with one replica.
import { HelloFeature, Magic, Status } from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { bootstrap, dcpOpen, FEATURES, streamReq, TestClient } from './helpers/client.js';

let cluster: Cluster;
const VBS = 16;
const clients: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    replicas: 1,
    vbuckets: VBS,
    buckets: ['default', { name: 'eph', type: 'ephemeral' }],
    users: { Administrator: 'password' },
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

const vb = (key: string) => cluster.bucket('default').vbucketOf(key);
const activeOf = (key: string) => cluster.vbucketMap()[vb(key)][0];
/** A key starting with `prefix` whose vbucket is active on `node`. */
function keyOn(prefix: string, node: number): string {
  for (let i = 0; ; i++) if (activeOf(`${prefix}${i}`) === node) return `${prefix}${i}`;
}

async function client(
  node: number,
  features = [...FEATURES, HelloFeature.MutationSeqno, HelloFeature.SyncReplication],
  bucket = 'default',
) {
  const c = await TestClient.connect(cluster.nodes[node].kvPort);
  await bootstrap(c, { bucket, features });
  clients.push(c);
  return c;
}

const arith = (delta: bigint, initial: bigint, expiry: number) => {
  const e = Buffer.alloc(20);
  e.writeBigUInt64BE(delta, 0);
  e.writeBigUInt64BE(initial, 8);
  e.writeUInt32BE(expiry, 16);
  return e;
};

describe('KV commands beyond get/set', () => {
  it('GET_META: deleted, flags, expiry, rev seqno (+ datatype in version 2); KEY_ENOENT when never written', async () => {
    const key = 'meta';
    const c = await client(activeOf(key));
    const w = cluster.bucket('default').upsert(key, { a: 1 }, { flags: 7, expiry: 1000 });
    const r = await c.call({ opcode: 0xa0, vbucket: vb(key), key, extras: Buffer.from([2]) });
    expect([r.status, r.extras.length, r.cas]).toEqual([0, 21, w.cas]);
    expect(r.extras.readUInt32BE(0)).toBe(0);
    expect(r.extras.readUInt32BE(4)).toBe(7);
    expect(r.extras.readUInt32BE(8)).toBe(cluster.bucket('default').get(key)!.expiry);
    expect(r.extras.readBigUInt64BE(12)).toBe(1n);
    expect(r.extras[20]).toBe(1);
    cluster.bucket('default').remove(key);
    const d = await c.call({ opcode: 0xa0, vbucket: vb(key), key });
    expect([d.status, d.extras.length, d.extras.readUInt32BE(0), d.extras.readBigUInt64BE(12)]).toEqual([
      0,
      20,
      1,
      2n,
    ]);
    const never = keyOn('never', activeOf(key));
    expect((await c.call({ opcode: 0xa0, vbucket: vb(never), key: never })).status).toBe(Status.KeyEnoent);
    expect((await c.call({ opcode: 0xa0, vbucket: vb(key), key, extras: Buffer.from([3]) })).status).toBe(
      Status.Einval,
    );
  });

  it('INCREMENT/DECREMENT: create with the initial value, 0xffffffff expiry means no create, DELTA_BADVAL, wrap and floor', async () => {
    const key = 'ctr';
    const c = await client(activeOf(key));
    const inc = (d: bigint, i: bigint, e: number, op = 0x05) =>
      c.call({ opcode: op, vbucket: vb(key), key, extras: arith(d, i, e) });
    expect((await inc(1n, 5n, 0xffffffff)).status).toBe(Status.KeyEnoent);
    const r = await inc(1n, 5n, 0);
    expect([r.status, r.value.readBigUInt64BE(0), r.extras.length]).toEqual([0, 5n, 16]);
    expect(cluster.bucket('default').get(key)!.value.toString()).toBe('5');
    expect(cluster.bucket('default').get(key)!.datatype).toBe(1);
    expect((await inc(2n ** 64n - 1n, 0n, 0)).value.readBigUInt64BE(0)).toBe(4n);
    expect((await inc(10n, 0n, 0, 0x06)).value.readBigUInt64BE(0)).toBe(0n);
    cluster.bucket('default').upsert(key, 'abc');
    expect((await inc(1n, 0n, 0)).status).toBe(Status.DeltaBadval);
    cluster.bucket('default').upsert(key, ' 12 ');
    expect((await inc(1n, 0n, 0)).value.readBigUInt64BE(0)).toBe(13n);
  });

  it('APPEND/PREPEND keep xattrs and expiry; NOT_STORED when missing', async () => {
    const key = 'ap';
    const c = await client(activeOf(key));
    cluster.bucket('default').upsert(key, 'b', { expiry: 1000 });
    expect((await c.call({ opcode: 0x0e, vbucket: vb(key), key, value: 'c' })).status).toBe(0);
    expect((await c.call({ opcode: 0x0f, vbucket: vb(key), key, value: 'a' })).status).toBe(0);
    const d = cluster.bucket('default').get(key)!;
    expect([d.value.toString(), d.expiry > Date.now() / 1000]).toEqual(['abc', true]);
    const none = keyOn('none', activeOf(key));
    expect((await c.call({ opcode: 0x0e, vbucket: vb(none), key: none, value: 'x' })).status).toBe(
      Status.NotStored,
    );
  });

  it('GET_LOCKED / UNLOCK_KEY: the lock CAS, LOCKED and NOT_LOCKED with XERROR, TMPFAIL/KEY_EEXISTS without', async () => {
    const key = 'lock';
    const node = activeOf(key);
    const c = await client(node);
    const old = await client(
      node,
      FEATURES.filter((f) => f !== HelloFeature.Xerror),
    );
    const w = cluster.bucket('default').upsert(key, { v: 1 });
    const l = await c.call({ opcode: 0x94, vbucket: vb(key), key, extras: Buffer.from([0, 0, 0, 10]) });
    expect(l.status).toBe(0);
    expect(l.cas).not.toBe(w.cas);
    expect(JSON.parse(l.value.toString())).toEqual({ v: 1 });
    // While locked a GET sees the CAS as 0xffffffffffffffff.
    expect((await c.call({ opcode: 0x00, vbucket: vb(key), key })).cas).toBe(0xffffffffffffffffn);
    expect((await c.call({ opcode: 0x94, vbucket: vb(key), key })).status).toBe(Status.Locked);
    expect((await old.call({ opcode: 0x94, vbucket: vb(key), key })).status).toBe(Status.Etmpfail);
    const set = (cl: TestClient, cas = 0n) =>
      cl.call({ opcode: 0x01, vbucket: vb(key), key, extras: Buffer.alloc(8), value: '{"v":2}', cas });
    expect((await set(c)).status).toBe(Status.Locked);
    expect((await set(old)).status).toBe(Status.KeyEexists);
    expect((await c.call({ opcode: 0x95, vbucket: vb(key), key, cas: 1n })).status).toBe(Status.Locked);
    expect((await c.call({ opcode: 0x95, vbucket: vb(key), key, cas: l.cas })).status).toBe(0);
    expect((await c.call({ opcode: 0x95, vbucket: vb(key), key, cas: l.cas })).status).toBe(0x0e);
    expect((await old.call({ opcode: 0x95, vbucket: vb(key), key, cas: l.cas })).status).toBe(
      Status.Etmpfail,
    );
    // The CAS stays the lock's after unlock; a write with it succeeds.
    expect((await set(c, l.cas)).status).toBe(0);
  });

  it('GET_REPLICA: the replica copy on the replica node; NOT_MY_VBUCKET on the active', async () => {
    const key = 'rep';
    const [active, replica] = cluster.vbucketMap()[vb(key)];
    cluster.bucket('default').upsert(key, { r: 1 });
    const rc = await client(replica);
    const ac = await client(active);
    // Replication runs in the background: the copy has the document a moment later.
    await vi.waitFor(async () => {
      const r = await rc.call({ opcode: 0x83, vbucket: vb(key), key });
      expect([r.status, r.value.toString()]).toEqual([0, '{"r":1}']);
    });
    expect((await ac.call({ opcode: 0x83, vbucket: vb(key), key })).status).toBe(Status.NotMyVbucket);
    cluster.pauseReplication([replica]);
    cluster.bucket('default').upsert(key, { r: 2 });
    expect((await rc.call({ opcode: 0x83, vbucket: vb(key), key })).value.toString()).toBe('{"r":1}');
    cluster.resumeReplication();
  });

  it('durability frame infos: malformed is EINVAL, level 4 DURABILITY_INVALID_LEVEL, persistence on ephemeral too, GET refuses one', async () => {
    const key = 'dur';
    const c = await client(activeOf(key));
    const set = (fe: Buffer, bucketClient = c, opcode = 0x01) =>
      bucketClient.call({
        magic: Magic.AltRequest,
        framingExtras: fe,
        opcode,
        vbucket: vb(key),
        key,
        extras: opcode === 0x01 ? Buffer.alloc(8) : undefined,
        value: opcode === 0x01 ? '{}' : undefined,
      });
    expect((await set(Buffer.from([0x12, 0x01, 0x00]))).status).toBe(Status.Einval);
    expect((await set(Buffer.from([0x11, 0x04]))).status).toBe(0xa0);
    expect((await set(Buffer.from([0x13, 0x01, 0x00, 0x00]))).status).toBe(Status.Einval);
    expect((await set(Buffer.from([0x11, 0x01]))).status).toBe(0);
    expect((await set(Buffer.from([0x11, 0x01]), c, 0x00)).status).toBe(Status.Einval);
    const e = await client(activeOf(key), undefined, 'eph');
    expect((await set(Buffer.from([0x11, 0x03]), e)).status).toBe(0xa0);
  });

  it('OBSERVE_SEQNO reports what the store holds as persisted', async () => {
    const key = 'obs';
    const c = await client(activeOf(key));
    const b = cluster.bucket('default');
    b.upsert(key, { o: 1 });
    await b.flush();
    b.upsert(key, { o: 2 });
    const uuid = Buffer.alloc(8);
    uuid.writeBigUInt64BE(b.failoverLog(vb(key))[0].vbucketUuid);
    const r = await c.call({ opcode: 0x91, vbucket: vb(key), value: uuid });
    const persisted = Number(r.value.readBigUInt64BE(11));
    const current = Number(r.value.readBigUInt64BE(19));
    expect(current).toBe(b.highSeqnos()[vb(key)]);
    expect(persisted).toBe(current - 1);
    await b.flush();
    const r2 = await c.call({ opcode: 0x91, vbucket: vb(key), value: uuid });
    expect(Number(r2.value.readBigUInt64BE(11))).toBe(current);
    // A replica reports what its copy holds: behind while replication is held back.
    const replica = cluster.vbucketMap()[vb(key)][1];
    const rc = await client(replica);
    await vi.waitFor(async () => {
      const rr = await rc.call({ opcode: 0x91, vbucket: vb(key), value: uuid });
      expect(Number(rr.value.readBigUInt64BE(19))).toBe(current);
    });
    cluster.pauseReplication([replica]);
    try {
      b.upsert(key, { o: 3 });
      const rr = await rc.call({ opcode: 0x91, vbucket: vb(key), value: uuid });
      expect([Number(rr.value.readBigUInt64BE(11)), Number(rr.value.readBigUInt64BE(19))]).toEqual([
        current,
        current,
      ]);
    } finally {
      cluster.resumeReplication();
    }
  });

  it('a DCP stream from a replica vbucket: refused with the active-only flag, else the copy up to what it holds', async () => {
    const key = 'dcp-rep';
    const [, replica] = cluster.vbucketMap()[vb(key)];
    const b = cluster.bucket('default');
    b.upsert(key, { d: 1 });
    const rc = await client(replica);
    await dcpOpen(rc, 'replica-stream', 0x01, { enable_noop: 'true' });
    expect((await streamReq(rc, { vbucket: vb(key), flags: 0x10 })).status).toBe(Status.NotMyVbucket);
    cluster.pauseReplication([replica]);
    try {
      const held = b.highSeqnos()[vb(key)];
      b.upsert(key, { d: 2 });
      const ok = await streamReq(rc, { vbucket: vb(key), endSeqno: held + 1 });
      expect(ok.status).toBe(0);
      await rc.until(
        () => rc.events.some((e) => e.type === 'mutation' && e.seqno === held),
        5000,
        'replica copy',
      );
      expect(rc.events.some((e) => e.type === 'mutation' && e.seqno === held + 1)).toBe(false);
    } finally {
      cluster.resumeReplication();
    }
    await rc.until(
      () => rc.events.some((e) => e.type === 'mutation' && e.seqno === b.highSeqnos()[vb(key)]),
      5000,
      'catch-up',
    );
  });
});
