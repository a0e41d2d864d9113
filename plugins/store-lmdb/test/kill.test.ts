import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStoreKillSafety } from '@tributary/core/conformance';
import { createLmdbStore } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

runStoreKillSafety('store-lmdb', {
  writer: path.join(here, 'fixtures/batch-writer.ts'),
  cwd: path.resolve(here, '../../..'),
  namespace: () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-lmdb-kill-'));
    return {
      args: [dir],
      open: () => createLmdbStore({ path: dir }),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
  // (lmdb's write thread applies a batch: one of the size the channel index's group commits
  // reach, up to 200,000 operations, must be as all-or-nothing as a small one)
  cases: [
    { keys: 2000, kills: [2, 4, 7] },
    { keys: 100_000, kills: [2, 3] },
  ],
});
