import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStoreKillSafety } from '@tributary/core/conformance';
import { Redis } from 'ioredis';
import { createRedisStore, DEFAULT_REDIS_URL } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;

runStoreKillSafety('store-redis', {
  writer: path.join(here, 'fixtures/batch-writer.ts'),
  cwd: path.resolve(here, '../../..'),
  namespace: () => {
    const prefix = `trib-test:${randomUUID()}:`;
    return {
      args: [url, prefix],
      open: () => createRedisStore({ url, prefix }),
      cleanup: async () => {
        const r = new Redis(url);
        await r.del(`${prefix}idx`, `${prefix}val`);
        await r.quit();
      },
    };
  },
});
