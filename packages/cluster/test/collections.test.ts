// Scopes and collections in the embedded cluster: REST in ns_server's forms, KV with LEB128
// collection ids, GET_COLLECTION_ID / GET_COLLECTIONS_MANIFEST, UNKNOWN_COLLECTION with the
// manifest uid, and collection-aware DCP (filters, system events, SEQNO_ADVANCED, filter-empty
// stream ends), against real sockets.
import {
  DcpOpenFlag,
  decodeDcpSeqnoAdvanced,
  decodeDcpSystemEvent,
  decodeSystemEventData,
  encodeStreamRequestFilter,
  HelloFeature,
  joinCollectionKey,
  Opcode,
  Status,
  type SystemEventData,
} from '@tributary/codec';
import { createMemoryStore } from '@tributary/store-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
let cluster: Cluster;
let uniq = 0;
const auth = `Basic ${Buffer.from('Administrator:password').toString('base64')}`;
const COLL_FEATURES = [...FEATURES, HelloFeature.Collections];

beforeAll(async () => {
  // Small checkpoints: a stream from 0 soon starts behind them (a disk snapshot, a backfill).
  cluster = await startCluster({
    vbuckets: VBS,
    buckets: ['default'],
    users: { Administrator: 'password' },
    checkpointMaxItems: 4,
  });
});
afterAll(async () => {
  await cluster?.close();
});

async function rest(method: string, path: string, form?: Record<string, string>) {
  const res = await fetch(`${cluster.managementUrl}${path}`, {
    method,
    headers: {
      authorization: auth,
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  return { status: res.status, body: await res.text() };
}

async function kv(features = COLL_FEATURES): Promise<TestClient> {
  const c = await TestClient.connect(cluster.nodes[0].kvPort);
  await bootstrap(c, { bucket: 'default', features });
  return c;
}

async function dcp(features = COLL_FEATURES): Promise<TestClient> {
  const c = await kv(features);
  await dcpOpen(c, `coll-test:${uniq++}`, DcpOpenFlag.Producer, { enable_noop: 'true' });
  return c;
}

function setReq(vbucket: number, key: Buffer, value: string) {
  return { opcode: Opcode.Set, vbucket, key, extras: Buffer.alloc(8), value };
}

function eventsOf(evs: DcpEvent[]): SystemEventData[] {
  return evs
    .filter((e) => e.opcode === Opcode.DcpSystemEvent)
    .map((e) => {
      const ev = decodeDcpSystemEvent(e.packet);
      return decodeSystemEventData(ev.event, ev.version, ev.key, ev.value);
    });
}

function cidOf(scope: string, name: string): number {
  const s = cluster
    .bucket('default')
    .manifest()
    .scopes.find((x) => x.name === scope)!;
  return s.collections.find((c) => c.name === name)!.id;
}

describe('collections: REST and manifest', () => {
  it('creates and drops scopes and collections in ns_server forms, with its errors', async () => {
    const before = cluster.bucket('default').manifest().uid;
    let r = await rest('POST', '/pools/default/buckets/default/scopes', { name: 'rs' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ uid: (before + 1).toString(16) });
    r = await rest('POST', '/pools/default/buckets/default/scopes/rs/collections', {
      name: 'c1',
      maxTTL: '100',
    });
    expect(r.status).toBe(200);
    r = await rest('POST', '/pools/default/buckets/default/scopes/rs/collections', { name: 'c1' });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/Collection with name .+ already exists/);
    r = await rest('POST', '/pools/default/buckets/default/scopes', { name: 'rs' });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/Scope with name .+ already exists/);
    r = await rest('POST', '/pools/default/buckets/default/scopes/nope/collections', { name: 'x' });
    expect(r.status).toBe(404);
    expect(r.body).toMatch(/Scope with name .+ is not found/);
    r = await rest('POST', '/pools/default/buckets/default/scopes', { name: '_bad' });
    expect(r.status).toBe(400);
    r = await rest('POST', '/pools/default/buckets/nobucket/scopes', { name: 'x' });
    expect(r.status).toBe(404);
    r = await rest('DELETE', '/pools/default/buckets/default/scopes/rs/collections/none');
    expect(r.status).toBe(404);
    const got = JSON.parse((await rest('GET', '/pools/default/buckets/default/scopes')).body);
    const rs = got.scopes.find((s: { name: string }) => s.name === 'rs');
    expect(rs.collections).toEqual([
      { name: 'c1', uid: cidOf('rs', 'c1').toString(16), maxTTL: 100, history: false },
    ]);
    expect(got.uid).toBe((before + 2).toString(16));
    const cfg = JSON.parse((await rest('GET', '/pools/default/b/default')).body);
    expect(cfg.collectionsManifestUid).toBe((before + 2).toString(16));
    // The streaming config pushes the new uid (it once kept the uid of when the client connected).
    const ac = new AbortController();
    const streamed = await fetch(`${cluster.managementUrl}/pools/default/bs/default`, {
      headers: { authorization: auth },
      signal: ac.signal,
    });
    const reader = streamed.body!.getReader();
    let text = '';
    const uids: string[] = [];
    const nextUid = async () => {
      for (;;) {
        const i = text.indexOf('\n\n\n\n');
        if (i >= 0) {
          uids.push(JSON.parse(text.slice(0, i)).collectionsManifestUid);
          text = text.slice(i + 4);
          return uids.at(-1);
        }
        const { value } = await reader.read();
        text += Buffer.from(value!).toString();
      }
    };
    expect(await nextUid()).toBe((before + 2).toString(16));
    r = await rest('DELETE', '/pools/default/buckets/default/scopes/rs');
    expect(await nextUid()).toBe((before + 3).toString(16));
    ac.abort();
    expect(r.status).toBe(200);
    expect(
      cluster
        .bucket('default')
        .manifest()
        .scopes.some((s) => s.name === 'rs'),
    ).toBe(false);
    r = await rest('DELETE', '/pools/default/buckets/default/scopes/_default');
    expect(r.status).toBe(400);
    r = await rest('POST', '/pools/default/buckets/default/scopes', undefined);
    expect(r.status).toBe(400);
    // Unauthenticated writes are refused.
    const anon = await fetch(`${cluster.managementUrl}/pools/default/buckets/default/scopes`, {
      method: 'POST',
    });
    expect(anon.status).toBe(401);
  });
});

describe('collections: KV', () => {
  it('keeps equal keys apart per collection, answers GET_COLLECTION_ID and a stale id with the manifest uid', async () => {
    const b = cluster.bucket('default');
    b.createScope('kv');
    b.createCollection('kv', 'a');
    b.createCollection('kv', 'b', { maxTtl: 60 });
    const c = await kv();
    const idr = await c.call({ opcode: Opcode.CollectionsGetId, value: 'kv.a' });
    expect(idr.status).toBe(0);
    expect(Number(idr.extras.readBigUInt64BE(0))).toBe(b.manifest().uid);
    const aId = idr.extras.readUInt32BE(8);
    expect(aId).toBe(cidOf('kv', 'a'));
    const bId = cidOf('kv', 'b');
    const vb = b.vbucketOf('same');
    expect((await c.call(setReq(vb, joinCollectionKey(aId, 'same'), '"in a"'))).status).toBe(0);
    expect((await c.call(setReq(vb, joinCollectionKey(bId, 'same'), '"in b"'))).status).toBe(0);
    expect((await c.call(setReq(vb, joinCollectionKey(0, 'same'), '"in default"'))).status).toBe(0);
    const get = (cid: number) =>
      c.call({ opcode: Opcode.Get, vbucket: vb, key: joinCollectionKey(cid, 'same') });
    expect((await get(aId)).value.toString()).toBe('"in a"');
    expect((await get(bId)).value.toString()).toBe('"in b"');
    expect(b.get('same')!.value.toString()).toBe('"in default"');
    expect(b.collection('kv.a').get('same')!.value.toString()).toBe('"in a"');
    // maxTTL caps the expiry of kv.b's documents.
    const exp = b.collection('kv.b').get('same')!.expiry;
    expect(exp).toBeGreaterThan(Date.now() / 1000 + 50);
    expect(exp).toBeLessThanOrEqual(Date.now() / 1000 + 61);
    expect(b.get('same')!.expiry).toBe(0);
    // Unknown scope / collection paths.
    expect((await c.call({ opcode: Opcode.CollectionsGetId, value: 'kv.zz' })).status).toBe(
      Status.UnknownCollection,
    );
    expect((await c.call({ opcode: Opcode.CollectionsGetId, value: 'zz.a' })).status).toBe(0x8c);
    // The manifest over KV.
    const man = JSON.parse((await c.call({ opcode: Opcode.GetCollectionsManifest })).value.toString());
    expect(man.uid).toBe(b.manifest().uid.toString(16));
    // Drop kv.a: its id is stale now; the reply says which manifest judged it.
    b.dropCollection('kv', 'a');
    const stale = await get(aId);
    expect(stale.status).toBe(Status.UnknownCollection);
    expect(JSON.parse(stale.value.toString()).manifest_uid).toBe(b.manifest().uid.toString(16));
    expect(() => b.collection('kv.a').get('same')).toThrowError(
      expect.objectContaining({ code: 'TRIB_CLUSTER_UNKNOWN_COLLECTION' }),
    );
    // Re-created under the same name: a new id, and none of the old documents.
    b.createCollection('kv', 'a');
    expect(cidOf('kv', 'a')).not.toBe(aId);
    expect(b.collection('kv.a').get('same')).toBeUndefined();
    // A bad LEB128 prefix (non-canonical) is EINVAL.
    expect(
      (await c.call({ opcode: Opcode.Get, vbucket: vb, key: Buffer.from([0x80, 0x00, 0x61]) })).status,
    ).toBe(Status.Einval);
    c.close();
  });

  it('flushes a collection: what was written before the flush is gone, later writes stay', async () => {
    const b = cluster.bucket('default');
    b.createScope('fl');
    b.createCollection('fl', 'c');
    const h = b.collection('fl.c');
    for (let i = 0; i < 20; i++) h.upsert(`d${i}`, { i });
    b.flushCollection('fl', 'c');
    expect(h.get('d1')).toBeUndefined();
    h.upsert('after', { ok: true });
    await b.collectionsPurged();
    expect(h.get('after')).toBeDefined();
    expect(h.get('d2')).toBeUndefined();
  });
});

describe('collections: DCP', () => {
  it('sends system events and prefixed keys to collections connections, nothing new to legacy ones', async () => {
    const b = cluster.bucket('default');
    const vb = 1;
    const aware = await dcp();
    const legacy = await dcp(FEATURES);
    expect((await streamReq(aware, { vbucket: vb, opaque: 0x11 })).status).toBe(0);
    expect((await streamReq(legacy, { vbucket: vb, opaque: 0x22 })).status).toBe(0);
    b.createScope('ev');
    b.createCollection('ev', 'x');
    const x = cidOf('ev', 'x');
    const key = keysFor(vb, 1)[0];
    b.collection('ev.x').upsert(key, { in: 'x' });
    b.upsert(key, { in: 'default' });
    await aware.until(
      () => eventsFor(aware, 0x11).filter((e) => e.type === 'mutation').length >= 2,
      5000,
      'aware',
    );
    await legacy.until(() => eventsFor(legacy, 0x22).some((e) => e.type === 'mutation'), 5000, 'legacy');
    const evs = eventsOf(eventsFor(aware, 0x11));
    expect(evs.slice(-2)).toEqual([
      { type: 'scope-created', manifestUid: b.manifest().uid - 1, scopeId: evs.at(-2)!.scopeId, name: 'ev' },
      {
        type: 'collection-created',
        manifestUid: b.manifest().uid,
        scopeId: evs.at(-2)!.scopeId,
        collectionId: x,
        name: 'x',
      },
    ]);
    const muts = eventsFor(aware, 0x11).filter((e) => e.type === 'mutation');
    expect(muts.map((e) => Buffer.from(e.packet.key).toString('hex'))).toEqual([
      joinCollectionKey(x, key).toString('hex'),
      joinCollectionKey(0, key).toString('hex'),
    ]);
    // The legacy connection got the default document only, and only classic opcodes.
    const lev = eventsFor(legacy, 0x22);
    expect(lev.filter((e) => e.type === 'mutation').map((e) => e.key)).toEqual([key]);
    expect(
      legacy.events.every((e) => e.opcode !== Opcode.DcpSystemEvent && e.opcode !== Opcode.DcpSeqnoAdvanced),
    ).toBe(true);
    aware.close();
    legacy.close();
  });

  it('a collection filter gets only its documents; a backfill ends with SEQNO_ADVANCED; a drop ends the stream (7)', async () => {
    const b = cluster.bucket('default');
    b.createScope('f');
    b.createCollection('f', 'keep');
    b.createCollection('f', 'other');
    const keep = cidOf('f', 'keep');
    const vb = 2;
    const keys = keysFor(vb, 16);
    b.collection('f.keep').upsert(keys[0], 1);
    b.collection('f.keep').upsert(keys[1], 2);
    // After the last 'keep' item, and enough of them that the stream starts behind the in-memory
    // checkpoints: a backfill, whose marker covers them all and ends with a SEQNO_ADVANCED.
    for (let i = 2; i < 15; i++) b.collection('f.other').upsert(keys[i], i);
    const high = b.highSeqnos()[vb];
    const c = await dcp();
    const value = encodeStreamRequestFilter({ collections: [keep] });
    expect((await streamReq(c, { vbucket: vb, opaque: 0x33, value })).status).toBe(0);
    await c.until(
      () => eventsFor(c, 0x33).some((e) => e.opcode === Opcode.DcpSeqnoAdvanced),
      5000,
      'advance',
    );
    const evs = eventsFor(c, 0x33);
    const muts = evs.filter((e) => e.type === 'mutation');
    expect(muts.map((e) => Buffer.from(e.packet.key).subarray(1).toString())).toEqual([keys[0], keys[1]]);
    const marker = evs.find((e) => e.type === 'marker')!;
    expect(marker.end).toBe(high);
    const adv = decodeDcpSeqnoAdvanced(evs.find((e) => e.opcode === Opcode.DcpSeqnoAdvanced)!.packet);
    expect(adv.bySeqno).toBe(high);
    // Only keep's create event, not other's, not the scope's.
    expect(eventsOf(evs).map((e) => e.type)).toEqual(['collection-created']);
    // Live: a write to 'other' is not seen; the drop of 'keep' arrives, then STREAM_END 7.
    b.collection('f.other').upsert(keys[15], 4);
    b.dropCollection('f', 'keep');
    await c.until(() => eventsFor(c, 0x33).some((e) => e.type === 'end'), 5000, 'end');
    const after = eventsFor(c, 0x33);
    expect(after.filter((e) => e.type === 'mutation')).toHaveLength(2);
    expect(eventsOf(after).at(-1)).toMatchObject({ type: 'collection-dropped', collectionId: keep });
    expect(after.at(-1)!.reason).toBe(7);
    // A filter naming a collection that no longer exists: UNKNOWN_COLLECTION with the manifest uid.
    const r = await streamReq(c, { vbucket: vb, opaque: 0x34, value });
    expect(r.status).toBe(Status.UnknownCollection);
    expect(JSON.parse(r.value.toString()).manifest_uid).toBe(b.manifest().uid.toString(16));
    c.close();
  });

  it('a scope filter picks up a collection created later and ends when the scope is dropped', async () => {
    const b = cluster.bucket('default');
    const scopeId = (() => {
      b.createScope('sc');
      return b.manifest().scopes.find((s) => s.name === 'sc')!.id;
    })();
    const vb = 3;
    const c = await dcp();
    const value = encodeStreamRequestFilter({ scope: scopeId });
    expect((await streamReq(c, { vbucket: vb, opaque: 0x44, value })).status).toBe(0);
    b.createCollection('sc', 'late');
    const key = keysFor(vb, 1)[0];
    b.collection('sc.late').upsert(key, { late: true });
    b.upsert(key, { not: 'this one' });
    // Seen before the drop (else the drop event would supersede the create, as in kv_engine).
    await c.until(() => eventsFor(c, 0x44).some((e) => e.type === 'mutation'), 5000, 'late doc');
    b.dropScope('sc');
    await c.until(() => eventsFor(c, 0x44).some((e) => e.type === 'end'), 5000, 'end');
    const evs = eventsFor(c, 0x44);
    expect(eventsOf(evs).map((e) => e.type)).toEqual([
      'scope-created',
      'collection-created',
      'collection-dropped',
      'scope-dropped',
    ]);
    expect(evs.filter((e) => e.type === 'mutation')).toHaveLength(1);
    expect(evs.at(-1)!.reason).toBe(7);
    // Filters need a collections connection; a legacy one gets EINVAL for them.
    const legacy = await dcp(FEATURES);
    expect((await streamReq(legacy, { vbucket: vb, opaque: 0x45, value })).status).toBe(Status.Einval);
    legacy.close();
    c.close();
  });

  it('a dropped collection is purged from memory and the store; a restart keeps the manifest', async () => {
    const store = createMemoryStore();
    const c1 = await startCluster({ vbuckets: 4, buckets: ['b'], users: { u: 'password' }, store });
    const h = c1.bucket('b');
    h.createScope('p');
    h.createCollection('p', 'gone');
    h.createCollection('p', 'stays');
    for (let i = 0; i < 200; i++) {
      h.collection('p.gone').upsert(`k${i}`, { i });
      h.collection('p.stays').upsert(`k${i}`, { i });
    }
    await h.flush();
    const count = async () => {
      let n = 0;
      for await (const _ of store.scan({ prefix: Buffer.from('c\0b\0') })) n++;
      return n;
    };
    const before = await count();
    h.dropCollection('p', 'gone');
    await h.collectionsPurged();
    expect(await count()).toBe(before - 200);
    const uid = h.manifest().uid;
    await c1.close();
    const c2 = await startCluster({ vbuckets: 4, buckets: ['b'], users: { u: 'password' }, store });
    const h2 = c2.bucket('b');
    expect(h2.manifest().uid).toBe(uid);
    expect(h2.collection('p.stays').get('k7')!.value.toString()).toBe('{"i":7}');
    expect(() => h2.collection('p.gone').get('k7')).toThrowError(
      expect.objectContaining({ code: 'TRIB_CLUSTER_UNKNOWN_COLLECTION' }),
    );
    // New ids never reuse old ones.
    h2.createCollection('p', 'gone');
    expect(
      h2
        .manifest()
        .scopes.find((s) => s.name === 'p')!
        .collections.find((c) => c.name === 'gone')!.id,
    ).toBe(Math.max(...h2.manifest().scopes.flatMap((s) => s.collections.map((c) => c.id))));
    await c2.close();
    await store.close();
  });
});

function keysFor(vb: number, n: number): string[] {
  const b = cluster.bucket('default');
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const k = `ck${uniq}-${i}`;
    if (b.vbucketOf(k) === vb) out.push(k);
  }
  uniq++;
  return out;
}
