import { runStoreConformance } from '@tributary/core/conformance';
import { beforeAll } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { connectionString, dropTable, requirePostgres, uniqueTable } from './helpers.js';

let table = '';

beforeAll(requirePostgres);

runStoreConformance('postgres', {
  open: async () => {
    table = uniqueTable();
    return createPostgresStore({ connectionString, table });
  },
  reopen: async () => createPostgresStore({ connectionString, table }),
  durable: true,
  // nothing listens on port 1
  backendDown: async () =>
    createPostgresStore({
      connectionString: 'postgres://root@127.0.0.1:1/test',
      table: 'down',
      connectTimeoutMs: 1000,
    }),
  cleanup: async () => dropTable(table),
});
