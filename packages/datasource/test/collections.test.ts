// Collection-aware streaming: HELLO Collections, LEB128 key prefixes stripped for the receiver,
// the collection filter in each stream request (the embedded cluster has only _default, ID 0).
import { type Cluster, startCluster } from '@tributary/cluster';
import { isTributaryError } from '@tributary/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource, type DcpRequest } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

const USERS = { app: 'secret' };
let cluster: Cluster;
const expected = new Map<string, string>();

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, vbuckets: 64, buckets: ['default'], users: USERS });
  const b = cluster.bucket('default');
  for (let i = 0; i < 3_000; i++) {
    // Keys whose first byte would read as a multi-byte LEB128 (0x80+) if the prefix were not stripped.
    const k = i % 3 ? `doc${i}` : `é-doc${i}`;
    b.upsert(k, `v${i}`);
    expected.set(k, `v${i}`);
  }
  for (let i = 0; i < 3_000; i += 10) {
    const k = i % 3 ? `doc${i}` : `é-doc${i}`;
    b.remove(k);
    expected.delete(k);
  }
});
afterAll(async () => {
  await cluster?.close();
});

function receiver() {
  const r = new MirrorReceiver();
  const ids = new Set<number | undefined>();
  const update = r.dataUpdate.bind(r);
  const del = r.dataDelete.bind(r);
  r.dataUpdate = (vb: number, key: Buffer, seq: number, req: DcpRequest) => {
    ids.add(req.collectionId);
    return update(vb, key, seq, req);
  };
  r.dataDelete = (vb: number, key: Buffer, seq: number, req: DcpRequest) => {
    ids.add(req.collectionId);
    return del(vb, key, seq, req);
  };
  return { r, ids };
}

describe('collections', () => {
  for (const collections of [['0'], []] as const) {
    it(`collections ${JSON.stringify(collections)}: plain keys for the receiver, collection 0, state equals the bucket`, async () => {
      const { r, ids } = receiver();
      const ds = createBucketDataSource({
        serverUrls: [cluster.managementUrl],
        bucketName: 'default',
        auth: { username: 'app', password: 'secret' },
        receiver: r,
        options: { collections, seqnoPollIntervalMs: 0 },
      });
      await ds.start();
      await waitFor(() => r.docs.size === expected.size && r.deletions >= 300, 'every document', 20_000);
      for (const [k, v] of expected) expect(r.docs.get(k)?.value, k).toBe(v);
      expect([...r.docs.keys()].every((k) => expected.has(k))).toBe(true);
      expect([...ids]).toEqual([0]);
      expect(r.orderViolations).toEqual([]);
      await ds.close();
      expect(r.errors).toEqual([]);
    });
  }

  it('without the option, keys and req.collectionId are as before (no prefix negotiated)', async () => {
    const { r, ids } = receiver();
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { seqnoPollIntervalMs: 0 },
    });
    await ds.start();
    await waitFor(() => r.docs.size === expected.size, 'every document', 20_000);
    expect([...ids]).toEqual([undefined]);
    await ds.close();
  });

  it('a filter naming a collection the bucket does not have: stream errors to onError, nothing delivered', async () => {
    const { r } = receiver();
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { collections: ['8'], seqnoPollIntervalMs: 0 },
    });
    await ds.start();
    await waitFor(() => r.errors.length >= 64, 'a stream error per vbucket', 10_000);
    await ds.close();
    const e = r.errors[0] as Error;
    expect(isTributaryError(e, 'TRIB_DATASOURCE_STREAM')).toBe(true);
    expect(e.message).toContain('0x88');
    expect(r.mutations).toBe(0);
  });

  it('rejects collection IDs that are not hex strings', () => {
    expect(() =>
      createBucketDataSource({
        serverUrls: [cluster.managementUrl],
        bucketName: 'default',
        receiver: new MirrorReceiver(),
        options: { collections: ['_default'] },
      }),
    ).toThrow(/collections/);
  });
});
