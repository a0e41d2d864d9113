import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runStoreConformance } from '@tributary/core/conformance';
import { createLmdbStore } from '../src/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-lmdb-'));
let dir = '';
let n = 0;

runStoreConformance('lmdb', {
  open: async () => {
    dir = path.join(root, `db${n++}`);
    return createLmdbStore({ path: dir });
  },
  reopen: async () => createLmdbStore({ path: dir }),
  durable: true,
  // a path under a regular file can never be opened
  backendDown: async () => {
    const file = path.join(root, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    return createLmdbStore({ path: path.join(file, 'db') });
  },
  cleanup: async () => {
    fs.rmSync(dir, { recursive: true, force: true });
  },
});
