import {
  encodeDelete,
  encodeGet,
  encodePacket,
  encodeStore,
  encodeTouch,
  HelloFeature,
  Magic,
  Opcode,
  Status,
  vbucketForKey,
} from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, vbucketOfKey } from '../src/index.js';
import { bootstrap, FEATURES, TestClient } from './helpers/client.js';

let cluster: Cluster;
const VBS = 64;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    vbuckets: VBS,
    buckets: ['default', 'travel'],
    users: { Administrator: 'password', travel: 'travelpw' },
    allowInsecurePlain: true,
    scramIterations: 4096,
  });
});
afterAll(async () => {
  await cluster?.close();
});

/** Connects to the node that owns `key`'s vbucket (or the other one). */
async function clientFor(
  key: string,
  owner = true,
  features = FEATURES,
): Promise<{ c: TestClient; vb: number }> {
  const vb = vbucketOfKey(key, VBS);
  const active = cluster.vbucketMap()[vb][0];
  const node = owner ? active : 1 - active;
  const c = await TestClient.connect(cluster.nodes[node].kvPort);
  await bootstrap(c, { bucket: 'default', features });
  return { c, vb };
}

describe('bootstrap', () => {
  it('answers a pipelined HELLO, GET_ERROR_MAP, LIST_MECHS, SASL_AUTH in order (gocbcore order)', async () => {
    const c = await TestClient.connect(cluster.nodes[0].kvPort);
    const { features } = await bootstrap(c, { bucket: 'default' });
    expect(features).toEqual(
      expect.arrayContaining([
        HelloFeature.Xerror,
        HelloFeature.Json,
        HelloFeature.Snappy,
        HelloFeature.Xattr,
      ]),
    );
    const opcodes = c.responses.map((r) => r.opcode);
    expect(opcodes.slice(0, 4)).toEqual([
      Opcode.Hello,
      Opcode.GetErrorMap,
      Opcode.SaslListMechs,
      Opcode.SaslAuth,
    ]);
    for (const r of c.responses) expect(r.magic).toBe(Magic.Response);
    const errMap = JSON.parse(c.responses[1].value.toString());
    expect(errMap.version).toBe(2);
    expect(c.responses[2].value.toString()).toContain('SCRAM-SHA512');
    expect(c.responses[2].value.toString()).toContain('PLAIN');
    c.close();
  });

  it('works SASL first, then HELLO (java-dcp-client order), with PLAIN', async () => {
    const c = await TestClient.connect(cluster.nodes[1].kvPort);
    const { features } = await bootstrap(c, { bucket: 'default', order: 'sasl-first', mechanism: 'PLAIN' });
    expect(features).toContain(HelloFeature.SelectBucket);
    const v = await c.call({ opcode: Opcode.Version });
    expect(v.value.toString()).toMatch(/^\d+\.\d+\.\d+-\d+$/);
    c.close();
  });

  for (const mech of ['SCRAM-SHA256', 'SCRAM-SHA1']) {
    it(`authenticates with ${mech}`, async () => {
      const c = await TestClient.connect(cluster.nodes[0].kvPort);
      await bootstrap(c, { mechanism: mech, bucket: 'default' });
      c.close();
    });
  }

  it('rejects a wrong password with AUTH_ERROR', async () => {
    const c = await TestClient.connect(cluster.nodes[0].kvPort);
    await expect(bootstrap(c, { password: 'nope' })).rejects.toThrow(/0x20/);
    c.close();
  });

  it('refuses commands before auth; GET_CLUSTER_CONFIG without a bucket is the cluster config (GCCCP)', async () => {
    const c = await TestClient.connect(cluster.nodes[0].kvPort);
    const r = await c.call({ opcode: Opcode.GetClusterConfig });
    expect(r.status).toBe(Status.Eaccess);
    await bootstrap(c);
    const r2 = await c.call({ opcode: Opcode.GetClusterConfig });
    expect(r2.status).toBe(Status.Success);
    // kv_engine's cluster_config_executor with no bucket: the global map, nodesExt and no vbuckets.
    const cfg = JSON.parse(r2.value.toString()) as Record<string, unknown>;
    expect(cfg.vBucketServerMap).toBeUndefined();
    expect(cfg.name).toBeUndefined();
    expect(cfg.rev).toBe(cluster.rev);
    const ext = cfg.nodesExt as { services: Record<string, number>; hostname: string; thisNode?: boolean }[];
    expect(ext.map((n) => n.services.kv)).toEqual(cluster.nodes.map((n) => n.kvPort));
    expect(ext.map((n) => n.services.mgmt)).toEqual(cluster.nodes.map((n) => n.mgmtPort));
    expect(ext[0].thisNode).toBe(true);
    expect(ext[0].hostname).toBe('127.0.0.1');
    c.close();
  });

  it('selects the bucket named after the user without SELECT_BUCKET', async () => {
    const c = await TestClient.connect(cluster.nodes[0].kvPort);
    await bootstrap(c, { user: 'travel', password: 'travelpw' });
    const r = await c.call({ opcode: Opcode.GetClusterConfig });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.value.toString()).name).toBe('travel');
    c.close();
  });

  it('serves GET_CLUSTER_CONFIG with $HOST replaced, nodesExt and a vBucketMap', async () => {
    const c = await TestClient.connect(cluster.nodes[1].kvPort);
    await bootstrap(c, { bucket: 'default' });
    const r = await c.call({ opcode: Opcode.GetClusterConfig });
    const raw = r.value.toString();
    expect(raw).not.toContain('$HOST');
    const cfg = JSON.parse(raw);
    expect(cfg.vBucketServerMap.vBucketMap).toHaveLength(VBS);
    expect(cfg.vBucketServerMap.serverList).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.kvPort}`));
    expect(cfg.nodesExt.map((n: { services: { kv: number } }) => n.services.kv)).toEqual(
      cluster.nodes.map((n) => n.kvPort),
    );
    expect(cfg.nodesExt[1].thisNode).toBe(true);
    expect(cfg.nodesExt[0].thisNode).toBeUndefined();
    expect(typeof cfg.collectionsManifestUid).toBe('string');
    expect(r.datatype & 1).toBe(1);
    c.close();
  });

  it('answers GET_ALL_VB_SEQNOS for the vbuckets this node holds, sorted', async () => {
    const c = await TestClient.connect(cluster.nodes[0].kvPort);
    await bootstrap(c, { bucket: 'default' });
    const ex = Buffer.alloc(4);
    ex.writeUInt32BE(1);
    const r = await c.call({ opcode: Opcode.GetAllVbSeqnos, extras: ex });
    expect(r.status).toBe(0);
    const vbs: number[] = [];
    for (let i = 0; i < r.value.length; i += 10) vbs.push(r.value.readUInt16BE(i));
    const mine = cluster
      .vbucketMap()
      .map((row, vb) => [row[0], vb])
      .filter(([n]) => n === 0)
      .map(([, vb]) => vb);
    expect(vbs).toEqual(mine);
    c.close();
  });

  it('closes only the connection that sends a malformed frame', async () => {
    const bad = await TestClient.connect(cluster.nodes[0].kvPort);
    const good = await TestClient.connect(cluster.nodes[0].kvPort);
    await bootstrap(good, { bucket: 'default' });
    bad.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await bad.closedPromise();
    expect(bad.closed).toBe(true);
    const r = await good.call({ opcode: Opcode.Noop });
    expect(r.status).toBe(0);
    good.close();
  });
});

describe('KV', () => {
  it('hashes keys like Couchbase (matches the codec)', () => {
    for (const k of ['hello', 'foo', 'key1', 'doc1'])
      expect(vbucketOfKey(k, 1024)).toBe(vbucketForKey(k, 1024));
    expect(vbucketOfKey('hello', 1024)).toBe(528);
  });

  it('SET/GET/ADD/REPLACE/DELETE/TOUCH with CAS, flags and errors', async () => {
    const key = 'kv-doc-1';
    const { c, vb } = await clientFor(key, true, [...FEATURES, HelloFeature.MutationSeqno]);
    const set = (opcode: number, value: string, cas = 0n, flags = 0, expiry = 0) =>
      c.call({
        opcode,
        vbucket: vb,
        key,
        value,
        cas,
        extras: Buffer.from([
          flags >>> 24,
          (flags >> 16) & 255,
          (flags >> 8) & 255,
          flags & 255,
          0,
          0,
          expiry >> 8,
          expiry & 255,
        ]),
      });
    const get = () => c.call({ opcode: Opcode.Get, vbucket: vb, key });

    expect((await get()).status).toBe(Status.KeyEnoent);
    expect((await set(Opcode.Replace, '{"a":1}')).status).toBe(Status.KeyEnoent);
    const s1 = await set(Opcode.Add, '{"a":1}', 0n, 0x02000006);
    expect(s1.status).toBe(0);
    expect(s1.cas).not.toBe(0n);
    expect(s1.extras).toHaveLength(16); // MutationSeqno: vbuuid + seqno
    expect(s1.extras.readBigUInt64BE(0)).toBe(cluster.bucket('default').failoverLog(vb)[0].vbucketUuid);
    expect((await set(Opcode.Add, '{"a":2}')).status).toBe(Status.KeyEexists);
    const g1 = await get();
    expect(g1.status).toBe(0);
    expect(g1.value.toString()).toBe('{"a":1}');
    expect(g1.extras.readUInt32BE(0)).toBe(0x02000006);
    expect(g1.cas).toBe(s1.cas);
    expect(g1.datatype & 1).toBe(1);
    // CAS mismatch, then CAS match.
    expect((await set(Opcode.Set, '{"a":3}', s1.cas + 1n)).status).toBe(Status.KeyEexists);
    const s2 = await set(Opcode.Replace, '{"a":3}', s1.cas);
    expect(s2.status).toBe(0);
    expect(s2.cas > s1.cas).toBe(true);
    // TOUCH and GET_K.
    const t = await c.call({
      opcode: Opcode.Touch,
      vbucket: vb,
      key,
      extras: Buffer.from([0, 0, 0x0e, 0x10]),
    });
    expect(t.status).toBe(0);
    expect(cluster.bucket('default').get(key)!.expiry).toBeGreaterThan(Date.now() / 1000);
    const gk = await c.call({ opcode: Opcode.GetK, vbucket: vb, key });
    expect(gk.key.toString()).toBe(key);
    // DELETE with a bad CAS, then for real, then again.
    expect((await c.call({ opcode: Opcode.Delete, vbucket: vb, key, cas: 12345n })).status).toBe(
      Status.KeyEexists,
    );
    expect((await c.call({ opcode: Opcode.Delete, vbucket: vb, key })).status).toBe(0);
    expect((await c.call({ opcode: Opcode.Delete, vbucket: vb, key })).status).toBe(Status.KeyEnoent);
    expect((await get()).status).toBe(Status.KeyEnoent);
    expect((await c.call({ opcode: Opcode.Touch, vbucket: vb, key, extras: Buffer.alloc(4) })).status).toBe(
      Status.KeyEnoent,
    );
    // SET with CAS on a missing document.
    expect((await set(Opcode.Set, 'x', 99n)).status).toBe(Status.KeyEnoent);
    // Bad extras.
    expect((await c.call({ opcode: Opcode.Set, vbucket: vb, key, value: 'x' })).status).toBe(Status.Einval);
    c.close();
  });

  it('codec-encoded requests work too (encodeStore/encodeGet/encodeDelete/encodeTouch)', async () => {
    const key = 'codec-doc';
    const { c, vb } = await clientFor(key);
    let o = c.nextOpaque();
    c.send(
      encodeStore({
        opcode: Opcode.Set,
        vbucket: vb,
        opaque: o,
        cas: 0n,
        key: Buffer.from(key),
        value: Buffer.from('plain'),
        flags: 7,
        expiry: 0,
        datatype: 0,
      }),
    );
    expect((await c.reply(Opcode.Set, o)).status).toBe(0);
    o = c.nextOpaque();
    c.send(encodeGet({ vbucket: vb, opaque: o, key: Buffer.from(key) }));
    const g = await c.reply(Opcode.Get, o);
    expect(g.value.toString()).toBe('plain');
    expect(g.datatype).toBe(0);
    o = c.nextOpaque();
    c.send(encodeTouch({ vbucket: vb, opaque: o, key: Buffer.from(key), expiry: 100 }));
    expect((await c.reply(Opcode.Touch, o)).status).toBe(0);
    o = c.nextOpaque();
    c.send(encodeDelete({ vbucket: vb, opaque: o, cas: 0n, key: Buffer.from(key) }));
    expect((await c.reply(Opcode.Delete, o)).status).toBe(0);
    c.close();
  });

  it('answers NOT_MY_VBUCKET with the config when the node does not own the vbucket', async () => {
    const key = 'nmvb-doc';
    const { c, vb } = await clientFor(key, false);
    const r = await c.call({ opcode: Opcode.Get, vbucket: vb, key });
    expect(r.status).toBe(Status.NotMyVbucket);
    const cfg = JSON.parse(r.value.toString());
    expect(cfg.rev).toBe(cluster.rev);
    const r2 = await c.call({ opcode: Opcode.Get, vbucket: VBS + 5, key });
    expect(r2.status).toBe(Status.NotMyVbucket);
    c.close();
  });

  it('collections: keys carry a LEB128 prefix when agreed; unknown collections are refused', async () => {
    const key = 'coll-doc';
    const { c, vb } = await clientFor(key, true, [...FEATURES, HelloFeature.Collections]);
    const k0 = Buffer.concat([Buffer.from([0]), Buffer.from(key)]);
    const s = await c.call({
      opcode: Opcode.Set,
      vbucket: vb,
      key: k0,
      value: '"v"',
      extras: Buffer.alloc(8),
    });
    expect(s.status).toBe(0);
    expect(cluster.bucket('default').get(key)?.value.toString()).toBe('"v"');
    const g = await c.call({ opcode: Opcode.Get, vbucket: vb, key: k0 });
    expect(g.value.toString()).toBe('"v"');
    const bad = await c.call({
      opcode: Opcode.Get,
      vbucket: vb,
      key: Buffer.concat([Buffer.from([8]), Buffer.from(key)]),
    });
    expect(bad.status).toBe(0x88);
    c.close();
  });

  it('flexible framing (AltRequestSupport) with preserve-TTL', async () => {
    const key = 'alt-doc';
    const { c, vb } = await clientFor(key);
    const ex = Buffer.alloc(8);
    ex.writeUInt32BE(1000, 4);
    expect((await c.call({ opcode: Opcode.Set, vbucket: vb, key, value: '1', extras: ex })).status).toBe(0);
    const exp1 = cluster.bucket('default').get(key)!.expiry;
    const r = await c.call({
      magic: Magic.AltRequest,
      framingExtras: Buffer.from([0x50]),
      opcode: Opcode.Set,
      vbucket: vb,
      key,
      value: '2',
      extras: Buffer.alloc(8),
    });
    expect(r.status).toBe(0);
    expect(r.magic).toBe(Magic.Response);
    const d = cluster.bucket('default').get(key)!;
    expect(d.value.toString()).toBe('2');
    expect(d.expiry).toBe(exp1);
    c.close();
  });

  it('bucket handle: upsert/insert/replace/remove/get/touch and errors', () => {
    const b = cluster.bucket('default');
    const r = b.upsert('h1', { x: 1 }, { flags: 5 });
    expect(r.seqno).toBe(b.highSeqnos()[r.vbucket]);
    expect(() => b.insert('h1', 'y')).toThrow(expect.objectContaining({ code: 'TRIB_CLUSTER_KEY_EXISTS' }));
    expect(() => b.replace('h-missing', 'y')).toThrow(
      expect.objectContaining({ code: 'TRIB_CLUSTER_KEY_NOT_FOUND' }),
    );
    b.replace('h1', 'plain', { cas: r.cas });
    expect(b.get('h1')!.value.toString()).toBe('plain');
    expect(b.get('h1')!.revSeqno).toBe(2);
    b.touch('h1', 50);
    expect(b.get('h1')!.revSeqno).toBe(3);
    b.remove('h1');
    expect(b.get('h1')).toBeUndefined();
    expect(() => b.remove('h1')).toThrow(expect.objectContaining({ code: 'TRIB_CLUSTER_KEY_NOT_FOUND' }));
    b.insert('h1', 'again');
    expect(b.get('h1')!.revSeqno).toBe(5);
    expect(() => cluster.bucket('nope')).toThrow(expect.objectContaining({ code: 'TRIB_CLUSTER_NO_BUCKET' }));
  });

  it('quiet GETQ misses send nothing; replies to a pipeline keep order', async () => {
    const key = 'quiet-doc';
    const { c, vb } = await clientFor(key);
    const o1 = c.nextOpaque();
    const o2 = c.nextOpaque();
    c.send(
      encodePacket({ magic: Magic.Request, opcode: Opcode.GetQ, vbucket: vb, opaque: o1, key }),
      encodePacket({ magic: Magic.Request, opcode: Opcode.Noop, opaque: o2 }),
    );
    await c.reply(Opcode.Noop, o2);
    expect(c.responses.find((r) => r.opaque === o1)).toBeUndefined();
    c.close();
  });
});
