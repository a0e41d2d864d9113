// The official Couchbase Node.js SDK (C++ core) against the embedded cluster: bootstrap over
// CCCP (GET_CLUSTER_CONFIG only, never port 8091), SCRAM-SHA512, collections-prefixed keys.
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
    timeouts: { connectTimeout: 10_000, bootstrapTimeout: 10_000, kvTimeout: 5_000 },
  });
});
afterAll(async () => {
  await sdk?.close();
  await cluster?.close();
});

describe('official couchbase SDK', () => {
  it('upserts, gets, replaces with CAS, and removes documents on both nodes', async () => {
    const coll = sdk.bucket('default').defaultCollection();
    const vbs = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const key = `sdk-${i}`;
      vbs.add(cluster.bucket('default').vbucketOf(key));
      const up = await coll.upsert(key, { i, who: 'sdk' });
      expect(up.cas).toBeTruthy();
      const got = await coll.get(key);
      expect(got.content).toEqual({ i, who: 'sdk' });
      // The embedded side sees the same document (JSON datatype, rev 1).
      const doc = cluster.bucket('default').get(key)!;
      expect(JSON.parse(doc.value.toString())).toEqual({ i, who: 'sdk' });
      expect(doc.datatype & 1).toBe(1);
    }
    const owners = new Set([...vbs].map((vb) => cluster.vbucketMap()[vb][0]));
    expect(owners.size).toBe(2); // the SDK routed to both nodes by the vbucket map
    const coll0 = coll;
    const first = await coll0.get('sdk-0');
    await coll0.replace('sdk-0', { i: 0, v: 2 }, { cas: first.cas });
    await expect(coll0.replace('sdk-0', { i: 0, v: 3 }, { cas: first.cas })).rejects.toBeInstanceOf(
      couchbase.CasMismatchError,
    );
    await expect(coll0.insert('sdk-0', {})).rejects.toBeInstanceOf(couchbase.DocumentExistsError);
    await coll0.remove('sdk-0');
    await expect(coll0.get('sdk-0')).rejects.toBeInstanceOf(couchbase.DocumentNotFoundError);
    expect(cluster.bucket('default').get('sdk-0')).toBeUndefined();
  });

  it('reads documents written through the bucket handle, with expiry via touch', async () => {
    cluster.bucket('default').upsert('embedded-doc', { from: 'handle' }, { flags: 0x02000006 });
    const coll = sdk.bucket('default').defaultCollection();
    const got = await coll.get('embedded-doc');
    expect(got.content).toEqual({ from: 'handle' });
    await coll.touch('embedded-doc', 3600);
    expect(cluster.bucket('default').get('embedded-doc')!.expiry).toBeGreaterThan(Date.now() / 1000);
  });
});
