import { startCluster } from '@tributary/cluster';
import { createStoreCheckpoints, streamBucket } from '@tributary/datasource';
import { createLmdbStore } from '@tributary/store-lmdb';

const cluster = await startCluster({ vbuckets: 16, buckets: ['default'], users: { app: 'secret' } });
for (let i = 0; i < 3; i++) cluster.bucket('default').upsert(`doc-${i}`, { i });

const store = createLmdbStore({ path: './ckpt' });
const seen = new Set<string>();
for await (const ev of streamBucket({
  serverUrls: [cluster.managementUrl],
  bucketName: 'default',
  auth: { username: 'app', password: 'secret' },
  checkpoints: createStoreCheckpoints(store), // optional: resume from here next time
})) {
  if (ev.type === 'mutation') seen.add(ev.key.toString());
  else if (ev.type === 'rollback')
    console.log('undo above', ev.vbucket, ev.seq); // after a failover
  else if (ev.type === 'error') console.warn(ev.error.message); // advisory: it keeps healing
  if (seen.size === 3) break; // leaving the loop closes the stream
}
console.log([...seen].sort()); // [ 'doc-0', 'doc-1', 'doc-2' ]
await store.close();
await cluster.close();
