// Prints every change of a Couchbase bucket, and after a restart carries on where it stopped.
import { createBucketDataSource, createStoreCheckpoints } from '@tributary/datasource';
import { createLmdbStore } from '@tributary/store-lmdb';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const serverUrl = env('COUCHBASE_URL', 'http://127.0.0.1:8091');
const bucketName = env('COUCHBASE_BUCKET', 'default');

// Checkpoints (the last seqno of each vbucket, and its failover log) in an LMDB directory.
const store = createLmdbStore({ path: env('CHECKPOINT_DIR', './checkpoints') });
const checkpoints = createStoreCheckpoints(store, { prefix: `print-changes/${bucketName}/` });

const dataSource = createBucketDataSource({
  serverUrls: [serverUrl],
  bucketName,
  auth: { username: env('COUCHBASE_USER', 'Administrator'), password: env('COUCHBASE_PASSWORD', 'password') },
  receiver: checkpoints.receiver({
    dataUpdate: (vbucket, key, seq, req) => {
      console.log(`mutation vb=${vbucket} seq=${seq} ${key} ${req.value}`);
    },
    dataDelete: (vbucket, key, seq, req) => {
      console.log(`${req.kind} vb=${vbucket} seq=${seq} ${key}`); // deletion or expiration
    },
    // Advisory: the datasource reconnects and retries by itself; a wrong password shows up here.
    onError: (err) => console.error(`warning: ${err.message}`),
  }),
});

await dataSource.start();
console.log(`streaming ${bucketName} from ${serverUrl} (Ctrl-C stops)`);

process.once('SIGINT', async () => {
  await dataSource.close(); // nothing runs once this resolves
  await checkpoints.flush(); // persist what was printed, so a restart resumes after it
  await store.close();
  console.log('stopped');
});
