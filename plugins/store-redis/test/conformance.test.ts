import { randomUUID } from 'node:crypto';
import { runStoreConformance } from '@tributary/core/conformance';
import { Redis } from 'ioredis';
import { beforeAll } from 'vitest';
import { createRedisStore, DEFAULT_REDIS_URL } from '../src/index.js';

const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
let prefix = '';

beforeAll(async () => {
  // a missing Redis fails the run (never skips), under CI=true and everywhere else
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new Error(`Redis is required at ${url} for the store-redis tests: ${(err as Error).message}`);
  } finally {
    probe.disconnect();
  }
});

runStoreConformance('redis', {
  open: async () => {
    prefix = `trib-test:${randomUUID()}:`;
    return createRedisStore({ url, prefix });
  },
  reopen: async () => createRedisStore({ url, prefix }),
  durable: true,
  // nothing listens on port 1
  backendDown: async () =>
    createRedisStore({ url: 'redis://127.0.0.1:1', prefix: 'trib-test:down:', connectTimeoutMs: 500 }),
  cleanup: async () => {
    const r = new Redis(url);
    try {
      await r.del(`${prefix}idx`, `${prefix}val`);
    } finally {
      await r.quit();
    }
  },
});
