import { startCluster } from '@tributary/cluster';
import { createBucketDataSource, createStoreCheckpoints } from '@tributary/datasource';
import { createLmdbStore } from '@tributary/store-lmdb';

const cluster = await startCluster({ vbuckets: 16, buckets: ['default'], users: { app: 'secret' } });
const bucket = cluster.bucket('default');

/** Streams until `expected` documents arrived, with checkpoints in LMDB; returns the keys seen. */
async function streamOnce(expected: number): Promise<string[]> {
  const store = createLmdbStore({ path: './ckpt' });
  const checkpoints = createStoreCheckpoints(store, { prefix: 'my-app/' });
  const seen: string[] = [];
  let finished!: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const ds = createBucketDataSource({
    serverUrls: [cluster.managementUrl],
    bucketName: 'default',
    auth: { username: 'app', password: 'secret' },
    receiver: checkpoints.receiver({
      dataUpdate: (_vb, key) => {
        if (seen.push(key.toString()) === expected) finished();
      },
      dataDelete: () => {},
    }),
  });
  await ds.start();
  await done;
  await ds.close();
  await checkpoints.flush(); // persist the last seqno of every vbucket
  await store.close();
  return seen.sort();
}

for (const key of ['a', 'b', 'c']) bucket.upsert(key, { key });
console.log(await streamOnce(3)); // [ 'a', 'b', 'c' ]
bucket.upsert('d', { key: 'd' });
console.log(await streamOnce(1)); // [ 'd' ]: resumed from the checkpoints, nothing replayed
await cluster.close();
