import { startCluster } from '@tributary/cluster';

const cluster = await startCluster({
  nodes: 2,
  vbuckets: 1024,
  buckets: ['default'],
  users: { Administrator: 'password' },
});
console.log(
  cluster.managementUrl,
  cluster.nodes.map((n) => n.kvPort),
);

const bucket = cluster.bucket('default');
const { seqno, vbucket } = bucket.upsert('doc-1', { hello: 'world' }, { expiry: 3600 });
console.log(bucket.get('doc-1')?.value.toString(), seqno, vbucket);

// With the official SDK (its only topology source is GET_CLUSTER_CONFIG on the KV port):
//   await couchbase.connect(`couchbase://127.0.0.1:${cluster.nodes[0].kvPort}`, { username, password })

await cluster.failover(1, { loseLast: 2 }); // node 1's vbuckets go active elsewhere, last 2 seqnos lost
console.log(cluster.nodes.map((n) => n.inCluster)); // [ true, false ]
await cluster.rebalance(); // spread over the running nodes; streams end (state changed)
await cluster.close();
