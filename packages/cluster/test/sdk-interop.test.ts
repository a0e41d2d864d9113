// The official Couchbase Node.js SDK (`couchbase` 4.7) against a 3-node embedded cluster with
// one replica, over plain TCP (couchbase://) and TLS (couchbases://), through every call of
// issue #24's table. Each expectation names what Couchbase Server answers, after kv_engine's
// docs (docs/SubDocument.md, docs/BinaryProtocol.md, docs/Durability.md) and the SDK's
// mapping of those statuses to error classes.
import { readFileSync } from 'node:fs';
import couchbase, { DurabilityLevel, LookupInSpec, MutateInSpec, StoreSemantics } from 'couchbase';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';

const fixture = (f: string) => new URL(`./fixtures/${f}`, import.meta.url).pathname;
let cluster: Cluster;
const sdks: Record<'tcp' | 'tls', couchbase.Cluster> = {} as never;
const timeouts = {
  connectTimeout: 15_000,
  bootstrapTimeout: 15_000,
  kvTimeout: 5_000,
  kvDurableTimeout: 5_000,
};

function connectSdk(transport: 'tcp' | 'tls', t = timeouts): Promise<couchbase.Cluster> {
  if (transport === 'tcp')
    return couchbase.connect(`couchbase://127.0.0.1:${cluster.nodes[0].kvPort}`, {
      username: 'Administrator',
      password: 'password',
      timeouts: t,
    });
  return couchbase.connect(`couchbases://127.0.0.1:${cluster.nodes[1].kvSslPort}`, {
    username: 'Administrator',
    password: 'password',
    security: { trustStorePath: fixture('ca.crt') },
    timeouts: t,
  });
}

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    replicas: 1,
    vbuckets: 64,
    buckets: ['default'],
    users: { Administrator: 'password' },
    tls: { cert: readFileSync(fixture('server.crt')), key: readFileSync(fixture('server.key')) },
  });
  sdks.tcp = await connectSdk('tcp');
  sdks.tls = await connectSdk('tls');
}, 60_000);

afterAll(async () => {
  await sdks.tcp?.close();
  await sdks.tls?.close();
  await cluster?.close();
});

/** Resolves with the error the promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error & { context?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { context?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

for (const transport of ['tcp', 'tls'] as const) {
  describe(`official SDK over ${transport}`, () => {
    const coll = () => sdks[transport].bucket('default').defaultCollection();
    const k = (name: string) => `${transport}-${name}`;

    it('exists (GET_META): present, missing, deleted', async () => {
      const c = coll();
      const up = await c.upsert(k('ex'), { a: 1 });
      const r = await c.exists(k('ex'));
      expect(r.exists).toBe(true);
      expect(r.cas?.toString()).toBe(up.cas.toString());
      expect((await c.exists(k('ex-none'))).exists).toBe(false);
      await c.remove(k('ex'));
      expect((await c.exists(k('ex'))).exists).toBe(false);
    });

    it('lookupIn: get, exists, count, whole document; per-path PATH_ENOENT and PATH_MISMATCH', async () => {
      const c = coll();
      await c.upsert(k('li'), { name: 'x', tags: ['a', 'b', 'c'], nested: { deep: { v: 7 } }, n: 1 });
      const r = await c.lookupIn(k('li'), [
        LookupInSpec.get('name'),
        LookupInSpec.exists('tags'),
        LookupInSpec.exists('nope'),
        LookupInSpec.count('tags'),
        LookupInSpec.get('nested.deep.v'),
        LookupInSpec.get('tags[-1]'),
        LookupInSpec.get('missing.path'),
        LookupInSpec.get('n.x'),
        LookupInSpec.get(''),
      ]);
      expect(r.content[0].value).toBe('x');
      expect(r.content[1].value).toBe(true);
      expect(r.content[2].value).toBe(false);
      expect(r.content[3].value).toBe(3);
      expect(r.content[4].value).toBe(7);
      expect(r.content[5].value).toBe('c');
      expect(r.content[6].error).toBeInstanceOf(couchbase.PathNotFoundError);
      expect(r.content[7].error).toBeInstanceOf(couchbase.PathMismatchError);
      expect(r.content[8].value).toEqual({
        name: 'x',
        tags: ['a', 'b', 'c'],
        nested: { deep: { v: 7 } },
        n: 1,
      });
      expect(await rejection(c.lookupIn(k('li-none'), [LookupInSpec.get('a')]))).toBeInstanceOf(
        couchbase.DocumentNotFoundError,
      );
    });

    it('mutateIn: every mutation spec, atomically, with the document Couchbase would write', async () => {
      const c = coll();
      await c.upsert(k('mi'), { a: 1, arr: [2, 3], set: ['x'], counter: 10, gone: true });
      const r = await c.mutateIn(k('mi'), [
        MutateInSpec.insert('b', { c: 1 }),
        MutateInSpec.upsert('a', 2),
        MutateInSpec.replace('b.c', 3),
        MutateInSpec.remove('gone'),
        MutateInSpec.arrayAppend('arr', 4),
        MutateInSpec.arrayPrepend('arr', 1),
        MutateInSpec.arrayInsert('arr[2]', 2.5),
        MutateInSpec.arrayAddUnique('set', 'y'),
        MutateInSpec.increment('counter', 5),
        MutateInSpec.decrement('counter', 2),
        MutateInSpec.upsert('made.by.mkdir', true, { createPath: true }),
        MutateInSpec.arrayAppend('list.of', 'first', { createPath: true }),
      ]);
      expect(r.content[8].value).toBe(15);
      expect(r.content[9].value).toBe(13);
      const raw = cluster.bucket('default').get(k('mi'))!;
      // subjson splices: new keys go last, in request order.
      expect(raw.value.toString()).toBe(
        '{"a":2,"arr":[1,2,2.5,3,4],"set":["x","y"],"counter":13,"b":{"c":3},"made":{"by":{"mkdir":true}},"list":{"of":["first"]}}',
      );
      expect((await c.get(k('mi'))).content).toEqual(JSON.parse(raw.value.toString()));
    });

    it('mutateIn errors: path exists, path not found, CAS mismatch, value too deep, document exists', async () => {
      const c = coll();
      const up = await c.upsert(k('me'), { a: 1, list: [1] });
      expect(await rejection(c.mutateIn(k('me'), [MutateInSpec.insert('a', 2)]))).toBeInstanceOf(
        couchbase.PathExistsError,
      );
      expect(await rejection(c.mutateIn(k('me'), [MutateInSpec.replace('x.y', 2)]))).toBeInstanceOf(
        couchbase.PathNotFoundError,
      );
      expect(await rejection(c.mutateIn(k('me'), [MutateInSpec.arrayAddUnique('list', 1)]))).toBeInstanceOf(
        couchbase.PathExistsError,
      );
      await c.upsert(k('me'), { a: 1, list: [1] });
      expect(
        await rejection(c.mutateIn(k('me'), [MutateInSpec.upsert('a', 3)], { cas: up.cas })),
      ).toBeInstanceOf(couchbase.CasMismatchError);
      // 32 levels is jsonsl's limit: a value nested 32 deep does not fit under a top-level key.
      let deep: unknown = 1;
      for (let i = 0; i < 32; i++) deep = [deep];
      expect(await rejection(c.mutateIn(k('me'), [MutateInSpec.upsert('d', deep)]))).toBeInstanceOf(
        couchbase.ValueTooDeepError,
      );
      expect(
        await rejection(
          c.mutateIn(k('me'), [MutateInSpec.upsert('a', 1)], { storeSemantics: StoreSemantics.Insert }),
        ),
      ).toBeInstanceOf(couchbase.DocumentExistsError);
      expect(await rejection(c.mutateIn(k('me-none'), [MutateInSpec.upsert('a', 1)]))).toBeInstanceOf(
        couchbase.DocumentNotFoundError,
      );
      // Nothing of a failed multi-mutation is applied.
      expect((await c.get(k('me'))).content).toEqual({ a: 1, list: [1] });
    });

    it('mutateIn store semantics: upsert and insert create the document (MKDOC / ADD)', async () => {
      const c = coll();
      await c.mutateIn(k('mk'), [MutateInSpec.upsert('x.y', 1)], { storeSemantics: StoreSemantics.Upsert });
      expect((await c.get(k('mk'))).content).toEqual({ x: { y: 1 } });
      await c.mutateIn(k('ad'), [MutateInSpec.arrayAppend('', 'v')], {
        storeSemantics: StoreSemantics.Insert,
      });
      expect((await c.get(k('ad'))).content).toEqual(['v']);
    });

    it('get({ withExpiry, project }) through sub-document lookups', async () => {
      const c = coll();
      const before = Math.floor(Date.now() / 1000);
      await c.upsert(k('gp'), { a: { b: 1, c: 2 }, d: [1, 2], e: 'x' }, { expiry: 600 });
      const g = await c.get(k('gp'), { withExpiry: true });
      expect(g.content).toEqual({ a: { b: 1, c: 2 }, d: [1, 2], e: 'x' });
      const at = (g.expiryTime as unknown as number) ?? 0;
      expect(at).toBeGreaterThanOrEqual(before + 600);
      expect(at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
      const p = await c.get(k('gp'), { project: ['a.b', 'e'] });
      expect(p.content).toEqual({ a: { b: 1 }, e: 'x' });
    });

    it('xattrs through sub-document, with the virtual $document attributes', async () => {
      const c = coll();
      const up = await c.upsert(k('xa'), { body: true }, { expiry: 3600 });
      const m = await c.mutateIn(k('xa'), [
        MutateInSpec.upsert('_sync', { rev: '1-abc', seq: 1 }, { xattr: true }),
        MutateInSpec.upsert('meta.user', 'u1', { xattr: true, createPath: true }),
      ]);
      expect(m.cas.toString()).not.toBe(up.cas.toString());
      const r = await c.lookupIn(k('xa'), [
        LookupInSpec.get('_sync.rev', { xattr: true }),
        LookupInSpec.get('meta', { xattr: true }),
        LookupInSpec.get('$document', { xattr: true }),
        LookupInSpec.get('$document.exptime', { xattr: true }),
        LookupInSpec.get('$document.value_bytes', { xattr: true }),
        LookupInSpec.get('body'),
      ]);
      expect(r.content[0].value).toBe('1-abc');
      expect(r.content[1].value).toEqual({ user: 'u1' });
      const doc = r.content[2].value as Record<string, unknown>;
      expect(doc.CAS).toBe(`0x${BigInt(m.cas.toString()).toString(16).padStart(16, '0')}`);
      expect(doc.deleted).toBe(false);
      expect(doc.datatype).toEqual(['json', 'xattr']);
      expect(doc.revid).toBe('2');
      expect(r.content[3].value).toBe(cluster.bucket('default').get(k('xa'))!.expiry);
      expect(r.content[4].value).toBe('{"body":true}'.length);
      expect(r.content[5].value).toBe(true);
      // A plain GET never shows the xattrs.
      expect((await c.get(k('xa'))).content).toEqual({ body: true });
      // SUBDOC_XATTR_CANT_MODIFY_VATTR (0xd2).
      expect(
        (await rejection(c.mutateIn(k('xa'), [MutateInSpec.upsert('$document.x', 1, { xattr: true })])))
          .message,
      ).toMatch(/xattr_cannot_modify_virtual_attribute/);
    });

    it('binary counters and append/prepend', async () => {
      const c = coll();
      const bin = c.binary();
      expect(await rejection(bin.increment(k('ctr'), 1))).toBeInstanceOf(couchbase.DocumentNotFoundError);
      expect((await bin.increment(k('ctr'), 1, { initial: 10 })).value).toBe(10);
      expect((await bin.increment(k('ctr'), 5)).value).toBe(15);
      expect((await bin.decrement(k('ctr'), 20)).value).toBe(0);
      await c.upsert(k('notnum'), { a: 1 });
      expect(await rejection(bin.increment(k('notnum'), 1))).toBeInstanceOf(couchbase.CouchbaseError);
      await c.upsert(k('ap'), 'mid', { transcoder: new couchbase.RawStringTranscoder() });
      await bin.append(k('ap'), '-end');
      await bin.prepend(k('ap'), 'start-');
      expect(cluster.bucket('default').get(k('ap'))!.value.toString()).toBe('start-mid-end');
      expect(await rejection(bin.append(k('ap-none'), 'x'))).toBeInstanceOf(couchbase.DocumentNotFoundError);
    });

    it('getAndLock / unlock: LOCKED to other writers until unlock, the lock CAS, or the timeout', async () => {
      const c = coll();
      await c.upsert(k('lk'), { v: 1 });
      const locked = await c.getAndLock(k('lk'), 15);
      expect(locked.content).toEqual({ v: 1 });
      // The SDK retries LOCKED (retry reason kv_locked) until its timeout.
      const err = await rejection(c.upsert(k('lk'), { v: 2 }, { timeout: 300 }));
      expect(err).toBeInstanceOf(couchbase.TimeoutError);
      expect(JSON.stringify(err.context)).toMatch(/key_value_locked/);
      // A plain read still works and sees the locked CAS.
      expect((await c.get(k('lk'))).content).toEqual({ v: 1 });
      expect(await rejection(c.unlock(k('lk'), '12345'))).toBeInstanceOf(couchbase.CasMismatchError);
      await c.unlock(k('lk'), locked.cas);
      expect(await rejection(c.unlock(k('lk'), locked.cas))).toBeInstanceOf(couchbase.DocumentNotLockedError);
      await c.upsert(k('lk'), { v: 3 });
      // A write carrying the lock CAS releases the lock.
      const l2 = await c.getAndLock(k('lk'), 15);
      await c.replace(k('lk'), { v: 4 }, { cas: l2.cas });
      await c.upsert(k('lk'), { v: 5 });
      expect((await c.get(k('lk'))).content).toEqual({ v: 5 });
    });

    it('touch and getAndTouch', async () => {
      const c = coll();
      await c.upsert(k('tt'), { v: 1 });
      await c.touch(k('tt'), 100);
      const e1 = cluster.bucket('default').get(k('tt'))!.expiry;
      expect(e1).toBeGreaterThan(Date.now() / 1000 + 90);
      const g = await c.getAndTouch(k('tt'), 1000);
      expect(g.content).toEqual({ v: 1 });
      expect(cluster.bucket('default').get(k('tt'))!.expiry).toBeGreaterThan(e1 + 800);
      expect(await rejection(c.touch(k('tt-none'), 10))).toBeInstanceOf(couchbase.DocumentNotFoundError);
    });

    it('getAnyReplica / getAllReplicas read the replica copies', async () => {
      const c = coll();
      await c.upsert(k('rp'), { copy: 1 });
      const all = await c.getAllReplicas(k('rp'));
      expect(all.length).toBe(2);
      expect(all.filter((r) => r.isReplica).length).toBe(1);
      for (const r of all) expect(r.content).toEqual({ copy: 1 });
      const any = await c.getAnyReplica(k('rp'));
      expect(any.content).toEqual({ copy: 1 });
      // Sub-document lookups on replicas (the replica-read doc flag, HELLO SubdocReplicaRead).
      const li = await c.lookupInAllReplicas(k('rp'), [LookupInSpec.get('copy')]);
      expect(li.map((r) => r.content[0].value)).toEqual([1, 1]);
      expect(li.filter((r) => r.isReplica).length).toBe(1);
      expect((await c.lookupInAnyReplica(k('rp'), [LookupInSpec.get('copy')])).content[0].value).toBe(1);
    });

    it('durable writes: majority, majorityAndPersistActive, persistToMajority', async () => {
      const c = coll();
      for (const level of [
        DurabilityLevel.Majority,
        DurabilityLevel.MajorityAndPersistOnMaster,
        DurabilityLevel.PersistToMajority,
      ]) {
        const key = k(`dur-${level}`);
        const r = await c.upsert(key, { level }, { durabilityLevel: level });
        expect(r.token).toBeDefined();
        await c.mutateIn(key, [MutateInSpec.upsert('more', 1)], { durabilityLevel: level });
        await c.remove(key, { durabilityLevel: level });
      }
    });

    it('observe-based durability (persistTo / replicateTo) is met through OBSERVE_SEQNO', async () => {
      const c = coll();
      const r = await c.upsert(k('obs'), { o: 1 }, { durabilityPersistTo: 2, durabilityReplicateTo: 1 });
      expect(r.token).toBeDefined();
      await c.remove(k('obs'), { durabilityPersistTo: 1, durabilityReplicateTo: 1 });
      expect(await rejection(c.get(k('obs')))).toBeInstanceOf(couchbase.DocumentNotFoundError);
    });

    it('cluster.buckets() and users() work on a connection that never opened a bucket (GCCCP)', async () => {
      // A fresh connection: its only topology source is GET_CLUSTER_CONFIG with no bucket.
      const fresh = await connectSdk(transport);
      try {
        const buckets = await fresh.buckets().getAllBuckets();
        expect(buckets.map((b) => b.name)).toEqual(['default']);
        expect(buckets[0].numReplicas).toBe(1);
        const users = await fresh.users().getAllUsers();
        expect(users.map((u) => u.username)).toEqual(['Administrator']);
        expect(users[0].effectiveRoles.map((r) => r.name)).toEqual(['admin']);
      } finally {
        await fresh.close();
      }
    });

    it('collections().getAllScopes() reads the manifest', async () => {
      const scopes = await sdks[transport].bucket('default').collections().getAllScopes();
      expect(scopes.map((s) => s.name)).toContain('_default');
      expect(scopes.find((s) => s.name === '_default')!.collections.map((c) => c.name)).toContain('_default');
    });
  });
}
