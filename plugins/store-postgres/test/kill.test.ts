import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStoreKillSafety } from '@tributary/core/conformance';
import { createPostgresStore } from '../src/index.js';
import { connectionString, dropTable, uniqueTable } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

runStoreKillSafety('store-postgres', {
  writer: path.join(here, 'fixtures/batch-writer.ts'),
  cwd: path.resolve(here, '../../..'),
  namespace: () => {
    const table = uniqueTable();
    return {
      args: [connectionString, table],
      open: () => createPostgresStore({ connectionString, table }),
      cleanup: () => dropTable(table),
    };
  },
});
