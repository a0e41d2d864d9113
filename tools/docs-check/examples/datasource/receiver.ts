import { startCluster } from '@tributary/cluster';
import { createBucketDataSource, type Receiver } from '@tributary/datasource';

// Something to stream from: the embedded cluster (a Couchbase Server works the same way).
const cluster = await startCluster({
  vbuckets: 64,
  buckets: ['default'],
  users: { Administrator: 'password' },
});
const bucket = cluster.bucket('default');
for (let i = 0; i < 4; i++) bucket.upsert(`doc-${i}`, { n: i });
bucket.remove('doc-3');

let events = 0;
let caughtUp!: () => void;
const done = new Promise<void>((resolve) => {
  caughtUp = resolve;
});
const meta = new Map<number, { value?: Uint8Array; lastSeq: number }>();
const receiver: Receiver = {
  onError: (err) => console.warn('advisory:', err.message), // it keeps healing by itself
  dataUpdate: (vb, key, seq, req) => {
    console.log('set', key.toString(), req.value.toString()); // key/value are views: copy to keep
    meta.set(vb, { ...meta.get(vb), lastSeq: seq });
    if (++events === 4) caughtUp();
  },
  dataDelete: (vb, key, seq, req) => {
    console.log(req.kind, key.toString()); // 'deletion' or 'expiration'
    meta.set(vb, { ...meta.get(vb), lastSeq: seq });
    if (++events === 4) caughtUp();
  },
  snapshotStart: () => {},
  setMetaData: (vb, value) => void meta.set(vb, { lastSeq: meta.get(vb)?.lastSeq ?? 0, value }),
  getMetaData: (vb) => meta.get(vb) ?? { lastSeq: 0 },
  rollback: (vb, seq) => void meta.set(vb, { lastSeq: Math.min(seq, meta.get(vb)?.lastSeq ?? 0) }),
};

const ds = createBucketDataSource({
  serverUrls: [cluster.managementUrl], // e.g. 'http://127.0.0.1:8091', 'couchbase://host', 'couchbases://host' (TLS)
  bucketName: 'default',
  auth: { username: 'Administrator', password: 'password' },
  receiver,
  options: { feedBufferSizeBytes: 20_000_000, pingTimeoutMs: 30_000 },
});
await ds.start();
await done;
console.log(ds.stats().TotUPRDataChange); // 4 (3 mutations, 1 deletion)
await ds.close(); // resolves when nothing runs any more
await cluster.close();
