// The consuming side as its own process (for SIGKILL tests): datasource → mutation stream →
// channel index on LMDB → `_changes`. Args: <lmdbPath> <mstreamPort> <httpPort> <managementUrl>.
import { createLmdbStore } from '@tributary/store-lmdb';
import { startIndexer, startProducer } from './pipeline.js';

const [path, mport, hport, mgmt] = process.argv.slice(2);
const store = createLmdbStore({ path: path! });
const indexer = await startIndexer({ store, port: Number(mport), httpPort: Number(hport) });
const producer = await startProducer({
  serverUrls: [mgmt!],
  endpoint: indexer.endpoint,
  getMeta: indexer.getMeta,
});
process.stdout.write(`ready ${indexer.url}\n`);
process.on('SIGTERM', async () => {
  await producer.close();
  await indexer.close();
  await store.close();
  process.exit(0);
});
