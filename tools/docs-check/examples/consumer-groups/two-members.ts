import { startCluster } from '@tributary/cluster';
import { assignVbuckets, createConsumerGroup } from '@tributary/datasource';
import { createMemoryStore } from '@tributary/store-memory';

const cluster = await startCluster({ vbuckets: 16, buckets: ['default'], users: { app: 'secret' } });
for (let i = 0; i < 20; i++) cluster.bucket('default').upsert(`doc-${i}`, { i });

// One store every member reaches: a shared memory backend here (one process), Redis or
// PostgreSQL across processes and machines.
const shared = createMemoryStore();
const seenBy = new Map<string, string>(); // document → member that streamed it

function member(name: string) {
  const group = createConsumerGroup({
    group: 'search-indexer',
    member: name,
    store: createMemoryStore({ backend: shared.backend }),
    leaseMs: 3_000,
    heartbeatMs: 500,
    onRevoked: async () => {}, // make your own state for those vbuckets durable here
    datasource: {
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: {
        dataUpdate: (_vb, key) => void seenBy.set(key.toString(), name),
        dataDelete: () => {},
      },
    },
  });
  group.on('error', (err) => console.error(err.code, err.message));
  return group;
}

const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise((resolve) => setTimeout(resolve, 50));
};

const a = member('indexer-a');
await a.start();
await until(() => seenBy.size === 20);
console.log('a alone:', a.assignment().length, 'vbuckets'); // a alone: 16 vbuckets

const b = member('indexer-b');
await b.start();
// Every member computes the same split (rendezvous hashing); wait until both hold their share.
const target = assignVbuckets(['indexer-a', 'indexer-b'], [...Array(16).keys()]);
const same = (x: number[], y: number[] = []) => [...x].sort().join() === [...y].sort().join();
await until(
  () => same(a.assignment(), target.get('indexer-a')) && same(b.assignment(), target.get('indexer-b')),
);
console.log('split:', a.assignment().length + b.assignment().length, 'vbuckets'); // split: 16 vbuckets

cluster.bucket('default').upsert('doc-new', { i: 20 });
await until(() => seenBy.has('doc-new'));
const owner = a.assignment().includes(cluster.bucket('default').vbucketOf('doc-new'))
  ? 'indexer-a'
  : 'indexer-b';
console.log(seenBy.get('doc-new') === owner); // true: only the owner streams it

await b.close(); // leaves: its vbuckets go back to a
await until(() => a.assignment().length === 16);
console.log('a again:', a.assignment().length, 'vbuckets'); // a again: 16 vbuckets
await a.close();
await shared.close();
await cluster.close();
