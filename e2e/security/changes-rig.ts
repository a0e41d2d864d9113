// The `_changes` side of the limits tests: embedded-cluster bucket → datasource → channel index on
// a memory store → `_changes` server (with the options under test), listening, one document indexed.
import {
  type ChangesServerOptions,
  createChangesServer,
  createChannelIndex,
  createUserStore,
} from '@tributary/channel-index';
import type { Cluster } from '@tributary/cluster';
import { createBucketDataSource } from '@tributary/datasource';
import { createMemoryStore } from '@tributary/store-memory';
import { waitFor } from '../support/pipeline.js';

export const ADMIN_AUTH = `Basic ${Buffer.from('admin:admin-pw').toString('base64')}`;

export async function startChangesRig(
  cluster: Cluster,
  options: Omit<ChangesServerOptions, 'databases' | 'admin'>,
) {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 1 });
  const users = createUserStore({ store, iterations: 1000 });
  const server = createChangesServer({
    databases: { db: { index, users } },
    admin: { username: 'admin', password: 'admin-pw' },
    ...options,
  });
  const ds = createBucketDataSource({
    serverUrls: [cluster.managementUrl],
    bucketName: 'default',
    auth: { username: 'Administrator', password: 'password' },
    receiver: index,
  });
  const close = async () => {
    await ds.close();
    await server.close();
    await index.close();
  };
  try {
    const { port, url } = await server.listen();
    await ds.start();
    cluster.bucket('default').upsert('before', { channels: ['news'] });
    await waitFor('the first document indexed', async () => {
      const r = await index.changes({ channels: ['news'], since: '0' });
      return r.results.length === 1;
    });
    return { index, server, ds, port, url, close };
  } catch (err) {
    await close();
    throw err;
  }
}
