// The official Couchbase Node.js SDK's collection manager and KV on named collections against
// the embedded cluster: REST create/drop in the SDK's own forms, GET_COLLECTION_ID, LEB128 keys,
// and the SDK's reaction to a dropped collection (its stale id is answered UNKNOWN_COLLECTION).
import couchbase from 'couchbase';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';

let cluster: Cluster;
let sdk: couchbase.Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    vbuckets: 64,
    buckets: ['default'],
    users: { Administrator: 'password' },
  });
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
});
afterAll(async () => {
  await sdk?.close();
  await cluster?.close();
});

describe('official SDK and collections', () => {
  it('creates scopes and collections with the collection manager and writes into each', async () => {
    const mgr = sdk.bucket('default').collections();
    await mgr.createScope('app');
    await mgr.createScope('audit');
    await mgr.createCollection('users', 'app');
    await mgr.createCollection('orders', 'app', { maxExpiry: 3600 });
    await mgr.createCollection('events', 'audit');
    await expect(mgr.createCollection('users', 'app')).rejects.toBeInstanceOf(
      couchbase.CollectionExistsError,
    );
    await expect(mgr.createScope('app')).rejects.toBeInstanceOf(couchbase.ScopeExistsError);
    const scopes = await mgr.getAllScopes();
    const app = scopes.find((s) => s.name === 'app')!;
    expect(app.collections.map((c) => c.name).sort()).toEqual(['orders', 'users']);
    expect(app.collections.find((c) => c.name === 'orders')!.maxExpiry).toBe(3600);

    const b = sdk.bucket('default');
    const users = b.scope('app').collection('users');
    const orders = b.scope('app').collection('orders');
    const events = b.scope('audit').collection('events');
    await users.upsert('k1', { who: 'user' });
    await orders.upsert('k1', { who: 'order' });
    await events.upsert('k1', { who: 'event' });
    expect((await users.get('k1')).content).toEqual({ who: 'user' });
    expect((await orders.get('k1')).content).toEqual({ who: 'order' });
    expect((await events.get('k1')).content).toEqual({ who: 'event' });
    await expect(b.defaultCollection().get('k1')).rejects.toBeInstanceOf(couchbase.DocumentNotFoundError);
    // The embedded side sees the same documents in the same collections.
    const h = cluster.bucket('default');
    expect(JSON.parse(h.collection('app.orders').get('k1')!.value.toString())).toEqual({ who: 'order' });
    expect(h.collection('app.orders').get('k1')!.expiry).toBeGreaterThan(0);

    await mgr.dropCollection('events', 'audit');
    await expect(mgr.dropCollection('events', 'audit')).rejects.toBeInstanceOf(
      couchbase.CollectionNotFoundError,
    );
    expect(() => h.collection('audit.events').get('k1')).toThrow();
    await mgr.dropScope('audit');
    await expect(mgr.dropScope('audit')).rejects.toBeInstanceOf(couchbase.ScopeNotFoundError);
  });
});
