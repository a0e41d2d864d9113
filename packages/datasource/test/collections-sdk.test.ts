// Named collections end to end: the official Couchbase Node SDK creates two scopes and three
// collections and writes into them; the datasource streams a filter of two of them by name and
// gets exactly their documents with their names; a collection named in the filter is created and
// another dropped while streaming; a restart resumes from checkpoints across a manifest change
// (a collection dropped and re-created under the same name with a new id while stopped).
import { type Cluster, startCluster } from '@tributary/cluster';
import { createMemoryStore } from '@tributary/store-memory';
import couchbase from 'couchbase';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CollectionEvent,
  createBucketDataSource,
  createStoreCheckpoints,
  type DcpRequest,
  decodeMetaData,
  streamBucket,
} from '../src/index.js';
import { waitFor } from './helpers.js';

const USERS = { Administrator: 'password' };
const N = 40;
let cluster: Cluster;
let sdk: couchbase.Cluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, vbuckets: 32, buckets: ['default'], users: USERS });
  sdk = await couchbase.connect(`couchbase://127.0.0.1:${cluster.nodes[0].kvPort}`, {
    username: 'Administrator',
    password: 'password',
    timeouts: {
      connectTimeout: 10_000,
      bootstrapTimeout: 10_000,
      kvTimeout: 5_000,
      managementTimeout: 10_000,
    },
  });
  const mgr = sdk.bucket('default').collections();
  await mgr.createScope('app');
  await mgr.createScope('audit');
  await mgr.createCollection('users', 'app');
  await mgr.createCollection('orders', 'app');
  await mgr.createCollection('events', 'audit');
  const b = sdk.bucket('default');
  // The same keys in every collection (and in _default): they must never mix up.
  for (const [s, c] of [
    ['app', 'users'],
    ['app', 'orders'],
    ['audit', 'events'],
  ] as const) {
    const coll = b.scope(s).collection(c);
    for (let i = 0; i < N; i++) await coll.upsert(`k${i}`, { s, c, i });
  }
  for (let i = 0; i < N; i++) await b.defaultCollection().upsert(`k${i}`, { s: '_default', i });
});
afterAll(async () => {
  await sdk?.close();
  await cluster?.close();
});

interface Seen {
  docs: Map<string, string>;
  deleted: Set<string>;
  events: (CollectionEvent & { vb: number })[];
  errors: Error[];
  ids: Map<string, number>;
}

function collect(): Seen & {
  dataUpdate: (vb: number, key: Buffer, seq: number, req: DcpRequest) => void;
  dataDelete: (vb: number, key: Buffer, seq: number, req: DcpRequest) => void;
  collectionEvent: (vb: number, seq: number, ev: CollectionEvent) => void;
  onError: (e: Error) => void;
} {
  const seen: Seen = { docs: new Map(), deleted: new Set(), events: [], errors: [], ids: new Map() };
  const name = (key: Buffer, req: DcpRequest) => `${req.scope}.${req.collection}/${key.toString()}`;
  return {
    ...seen,
    dataUpdate: (_vb, key, _seq, req) => {
      seen.docs.set(name(key, req), req.value.toString());
      seen.ids.set(`${req.scope}.${req.collection}`, req.collectionId!);
    },
    dataDelete: (_vb, key, _seq, req) => {
      seen.deleted.add(name(key, req));
    },
    collectionEvent: (vb, _seq, ev) => {
      seen.events.push({ ...ev, vb });
    },
    onError: (e) => {
      seen.errors.push(e);
    },
  };
}

function inCollection(docs: Map<string, string>, path: string): number {
  let n = 0;
  for (const k of docs.keys()) if (k.startsWith(`${path}/`)) n++;
  return n;
}

describe('datasource with named collections (official SDK writes)', () => {
  it('streams exactly the filtered collections, follows a create and a drop, resumes across a manifest change', async () => {
    const store = createMemoryStore();
    const checkpoints = createStoreCheckpoints(store, { prefix: 'coll-sdk/' });
    const filter = { names: ['app.users', 'audit.events', 'audit.late'] };
    let seen = collect();
    const open = (app: ReturnType<typeof collect>) =>
      createBucketDataSource({
        serverUrls: [cluster.managementUrl],
        bucketName: 'default',
        auth: { username: 'Administrator', password: 'password' },
        receiver: checkpoints.receiver(app),
        options: { collections: filter, seqnoPollIntervalMs: 0 },
      });
    let ds = open(seen);
    await ds.start();
    await waitFor(
      () => inCollection(seen.docs, 'app.users') === N && inCollection(seen.docs, 'audit.events') === N,
      'the two existing filtered collections',
    );
    // Exactly those two: nothing of app.orders or _default, and each document with its names.
    expect(seen.docs.size).toBe(2 * N);
    expect(JSON.parse(seen.docs.get('app.users/k3')!)).toEqual({ s: 'app', c: 'users', i: 3 });
    expect(JSON.parse(seen.docs.get('audit.events/k3')!)).toEqual({ s: 'audit', c: 'events', i: 3 });
    const usersId = seen.ids.get('app.users')!;

    // While streaming: audit.late (named in the filter) is created and written; app.users dropped.
    const mgr = sdk.bucket('default').collections();
    await mgr.createCollection('late', 'audit');
    const late = sdk.bucket('default').scope('audit').collection('late');
    for (let i = 0; i < N; i++) await late.upsert(`k${i}`, { late: i });
    await mgr.dropCollection('users', 'app');
    await sdk.bucket('default').scope('app').collection('orders').upsert('after-drop', { x: 1 });
    await waitFor(
      () =>
        inCollection(seen.docs, 'audit.late') === N &&
        seen.events.filter((e) => e.type === 'collection-dropped' && e.collectionId === usersId).length ===
          32,
      'the new collection and the drop in every vbucket',
    );
    expect(
      seen.events.filter((e) => e.type === 'collection-created' && e.collection === 'late'),
    ).toHaveLength(32);
    const drop = seen.events.find((e) => e.type === 'collection-dropped')!;
    expect(drop).toMatchObject({ scope: 'app', collection: 'users', collectionId: usersId });
    expect(inCollection(seen.docs, 'app.orders')).toBe(0);
    expect(seen.errors).toEqual([]);
    await ds.close();
    await checkpoints.flush();
    const lateId = seen.ids.get('audit.late')!;

    // Stopped: audit.late dropped and created again (a new id), written to; events written to.
    await mgr.dropCollection('late', 'audit');
    await mgr.createCollection('late', 'audit');
    for (let i = 0; i < 5; i++) await late.upsert(`again${i}`, { again: i });
    const events = sdk.bucket('default').scope('audit').collection('events');
    await events.upsert('k0', { updated: true });
    const uid = cluster.bucket('default').manifest().uid;

    seen = collect();
    ds = open(seen);
    await ds.start();
    await waitFor(
      () => inCollection(seen.docs, 'audit.late') === 5 && seen.docs.has('audit.events/k0'),
      'what changed while stopped',
    );
    // Resumed: nothing from before the checkpoints again (one changed doc of events, 5 new ones).
    expect(JSON.parse(seen.docs.get('audit.events/k0')!)).toEqual({ updated: true });
    expect(inCollection(seen.docs, 'audit.events')).toBe(1);
    expect(seen.ids.get('audit.late')).not.toBe(lateId);
    expect(seen.events.some((e) => e.type === 'collection-dropped' && e.collectionId === lateId)).toBe(true);
    await ds.close();
    await checkpoints.flush();
    // Each vbucket's checkpoint remembers the manifest uid its stream reached.
    for (let vb = 0; vb < 32; vb++) {
      const md = await checkpoints.getMetaData(vb);
      expect(decodeMetaData(vb, md.value).manifestUid).toBe(uid);
    }
    await store.close();
  });

  it('a scope filter streams its collections; without the option only _default arrives (legacy mode)', async () => {
    const scopeSeen = collect();
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'Administrator', password: 'password' },
      receiver: createStoreCheckpoints(createMemoryStore()).receiver(scopeSeen),
      options: { collections: { scope: 'audit' }, seqnoPollIntervalMs: 0 },
    });
    await ds.start();
    await waitFor(() => inCollection(scopeSeen.docs, 'audit.events') === N, 'audit.events');
    await waitFor(() => inCollection(scopeSeen.docs, 'audit.late') === 5, 'audit.late');
    expect([...scopeSeen.docs.keys()].every((k) => k.startsWith('audit.'))).toBe(true);
    await ds.close();

    const keys = new Set<string>();
    let scopes = 0;
    for await (const ev of streamBucket({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'Administrator', password: 'password' },
      options: { seqnoPollIntervalMs: 0 },
    })) {
      if (ev.type === 'mutation') {
        keys.add(ev.key.toString());
        if (ev.scope !== undefined || ev.collection !== undefined) scopes++;
      }
      if (keys.size === N) break;
    }
    expect(keys.size).toBe(N);
    expect(scopes).toBe(0);
  });

  it('streamBucket events carry scope and collection on a collections stream', async () => {
    const got: { scope?: string; collection?: string; key: string }[] = [];
    for await (const ev of streamBucket({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'Administrator', password: 'password' },
      options: { collections: { names: ['app.orders'] }, seqnoPollIntervalMs: 0 },
    })) {
      if (ev.type === 'mutation')
        got.push({ scope: ev.scope, collection: ev.collection, key: ev.key.toString() });
      if (got.length === N + 1) break;
    }
    expect(got.every((g) => g.scope === 'app' && g.collection === 'orders')).toBe(true);
    expect(got.some((g) => g.key === 'after-drop')).toBe(true);
  });

  it('a dropped scope ends its streams (filter empty); re-created, the streams reopen with its new id', async () => {
    const h = cluster.bucket('default');
    h.createScope('tmp');
    h.createCollection('tmp', 'one');
    for (let i = 0; i < N; i++) h.collection('tmp.one').upsert(`t${i}`, { i });
    const seen = collect();
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'Administrator', password: 'password' },
      receiver: createStoreCheckpoints(createMemoryStore()).receiver(seen),
      options: { collections: { scope: 'tmp' }, seqnoPollIntervalMs: 0 },
    });
    await ds.start();
    await waitFor(() => inCollection(seen.docs, 'tmp.one') === N, 'tmp.one');
    h.dropScope('tmp');
    await waitFor(() => seen.events.filter((e) => e.type === 'scope-dropped').length === 32, 'scope drops');
    h.createScope('tmp');
    h.createCollection('tmp', 'two');
    for (let i = 0; i < 5; i++) h.collection('tmp.two').upsert(`u${i}`, { i });
    await waitFor(
      () => inCollection(seen.docs, 'tmp.two') === 5,
      'tmp.two after the scope came back',
      20_000,
    );
    expect(seen.errors).toEqual([]);
    await ds.close();
  }, 30_000);

  it('an ids filter whose collections are all dropped ends those streams for good, without errors', async () => {
    const h = cluster.bucket('default');
    h.createScope('ids');
    h.createCollection('ids', 'only');
    const id = h.manifest().scopes.find((s) => s.name === 'ids')!.collections[0]!.id;
    h.collection('ids.only').upsert('x', 1);
    const seen = collect();
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'Administrator', password: 'password' },
      receiver: createStoreCheckpoints(createMemoryStore()).receiver(seen),
      options: { collections: { ids: [id.toString(16)] }, seqnoPollIntervalMs: 0 },
    });
    await ds.start();
    await waitFor(() => seen.docs.size === 1, 'the document');
    expect([...seen.docs.keys()]).toEqual(['ids.only/x']);
    h.dropCollection('ids', 'only');
    await waitFor(() => seen.events.filter((e) => e.type === 'collection-dropped').length === 32, 'drops');
    await waitFor(() => ds.stats().vbuckets.every((v) => v.state === ''), 'every stream ended');
    expect(ds.stats().TotUPRStreamReq).toBe(32);
    expect(seen.errors).toEqual([]);
    await ds.close();
  });
});
