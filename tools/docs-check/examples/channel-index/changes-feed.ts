import { createChangesServer, createChannelIndex, createUserStore } from '@tributary/channel-index';
import { startCluster } from '@tributary/cluster';
import { createBucketDataSource } from '@tributary/datasource';
import { createLmdbStore } from '@tributary/store-lmdb';

const cluster = await startCluster({ vbuckets: 16, buckets: ['default'], users: { app: 'secret' } });
const bucket = cluster.bucket('default');
bucket.upsert('story-1', { title: 'Rain', channels: ['news'] });
bucket.upsert('match-1', { score: '2-1', channels: ['sports'] });

const store = createLmdbStore({ path: './index.lmdb' });
const index = createChannelIndex({ store, maxBatch: 1000, maxBatchDelayMs: 2, blockSize: 100 });

// Stream the bucket into the index (checkpoints live in the index's own batches).
const ds = createBucketDataSource({
  serverUrls: [cluster.managementUrl],
  bucketName: 'default',
  auth: { username: 'app', password: 'secret' },
  receiver: index,
});
await ds.start();

// Read it directly...
await index.waitForChanges({ channels: ['news'], since: '0', timeoutMs: 10_000 });
const page = await index.changes({ channels: ['news'], since: '0', limit: 100 });
console.log(page.results.map((r) => r.id)); // [ 'story-1' ]; page.lastSeq: pass it back as `since`

// ...or serve it over HTTP with users and channel grants.
const users = createUserStore({ store });
await users.put('alice', { password: 's3cret', channels: ['sports'] });
const server = createChangesServer({
  databases: { db: { index, users } },
  admin: { username: 'admin', password: 'change-me' }, // channel "*": sees everything, manages users
});
const { url } = await server.listen({ port: 0 }); // 4984 is Sync Gateway's
const res = await fetch(`${url}/db/_changes?feed=longpoll&since=0`, {
  headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` },
});
const body = (await res.json()) as { results: { id: string }[]; last_seq: string };
console.log(body.results.map((r) => r.id)); // [ 'match-1' ]: alice sees her channels only

await server.close();
await ds.close();
await index.close();
await store.close();
await cluster.close();
