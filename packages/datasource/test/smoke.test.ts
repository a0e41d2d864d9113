import { startCluster } from '@tributary/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

describe('smoke', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2, vbuckets: 64, buckets: ['b'], users: { u: 'p' } });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('streams a small load', async () => {
    const b = cluster.bucket('b');
    for (let i = 0; i < 1000; i++) b.upsert(`k${i}`, `v${i}`);
    const r = new MirrorReceiver();
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'b',
      auth: { username: 'u', password: 'p' },
      receiver: r,
    });
    await ds.start();
    await waitFor(() => r.docs.size === 1000, 'all docs', 15_000);
    for (let i = 0; i < 100; i++) b.remove(`k${i}`);
    await waitFor(() => r.docs.size === 900, 'deletes', 15_000);
    console.log(r.errors, ds.stats().TotUPRDataChange);
    await ds.close();
    expect(r.orderViolations).toEqual([]);
  }, 30_000);
});
