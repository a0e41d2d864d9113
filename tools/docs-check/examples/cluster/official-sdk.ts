import { startCluster } from '@tributary/cluster';
import couchbase, { DurabilityLevel, LookupInSpec, MutateInSpec } from 'couchbase';

// Three nodes, one replica: what the official SDKs need for replica reads and durable writes.
const cluster = await startCluster({
  nodes: 3,
  replicas: 1,
  vbuckets: 64,
  buckets: ['default'],
  users: { Administrator: 'password' },
});
const sdk = await couchbase.connect(`couchbase://127.0.0.1:${cluster.nodes[0].kvPort}`, {
  username: 'Administrator',
  password: 'password',
});
const docs = sdk.bucket('default').defaultCollection();

await docs.upsert('user::1', { name: 'Ada', logins: 0 }, { durabilityLevel: DurabilityLevel.Majority });
await docs.mutateIn('user::1', [
  MutateInSpec.increment('logins', 1),
  MutateInSpec.upsert('_sync', { rev: '1-a' }, { xattr: true }),
]);
const r = await docs.lookupIn('user::1', [
  LookupInSpec.get('logins'),
  LookupInSpec.get('_sync.rev', { xattr: true }),
  LookupInSpec.get('$document.revid', { xattr: true }),
]);
console.log(r.content.map((c) => c.value)); // [ 1, '1-a', '2' ]
console.log((await docs.exists('user::1')).exists); // true

const locked = await docs.getAndLock('user::1', 10);
await docs.replace('user::1', { name: 'Ada', logins: 2 }, { cas: locked.cas }); // the lock CAS unlocks
console.log((await docs.getAllReplicas('user::1')).length); // 2: the active copy and the replica's

await sdk.close();
await cluster.close();
