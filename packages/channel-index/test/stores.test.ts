import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChannelIndex } from '@tributary/channel-index';
import type { Store } from '@tributary/core';
import { createLmdbStore } from '@tributary/store-lmdb';
import { createMemoryBackend, createMemoryStore } from '@tributary/store-memory';
import { createPostgresStore } from '@tributary/store-postgres';
import { createRedisStore } from '@tributary/store-redis';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpIndex, mut, until, workload } from './helpers.js';

// Every store plugin: the index must give the same answers on each. Redis and PostgreSQL are the
// real servers (a missing server fails these tests, it never skips them).
const run = `${process.pid}_${Date.now().toString(36)}`;
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Kind {
  name: string;
  /** A fresh backend; returns a function opening another store instance on it. */
  backend(): () => Store;
}

const kinds: Kind[] = [
  {
    name: 'memory',
    backend() {
      const backend = createMemoryBackend();
      return () => createMemoryStore({ backend });
    },
  },
  {
    name: 'lmdb',
    backend() {
      const dir = mkdtempSync(join(tmpdir(), 'ci-lmdb-'));
      dirs.push(dir);
      return () => createLmdbStore({ path: join(dir, 'db') });
    },
  },
  {
    name: 'redis',
    backend() {
      const prefix = `ci-test:${run}:${Math.random().toString(36).slice(2)}:`;
      cleanups.push(async () => {
        const { Redis } = await import('ioredis');
        const r = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
        await r.connect();
        const keys = await r.keys(`${prefix}*`);
        if (keys.length) await r.del(...keys);
        await r.quit();
      });
      return () => createRedisStore({ url: 'redis://127.0.0.1:6379', prefix });
    },
  },
  {
    name: 'postgres',
    backend() {
      const table = `ci_${run}_${Math.random().toString(36).slice(2, 8)}`;
      cleanups.push(async () => {
        const pg = await import('pg');
        const c = new pg.default.Client({ connectionString: 'postgres://root@127.0.0.1:5432/test' });
        await c.connect();
        await c.query(`DROP TABLE IF EXISTS ${table}`);
        await c.end();
      });
      return () => createPostgresStore({ connectionString: 'postgres://root@127.0.0.1:5432/test', table });
    },
  },
];

const muts = workload(1500, 16, 30);

describe.each(kinds)('channel index on store-$name', (kind) => {
  it('indexes a workload exactly as the memory store reference does, and resumes after reopening', async () => {
    const open = kind.backend();
    const store = open();
    const index = createChannelIndex({ store, maxBatch: 200, maxBatchDelayMs: 0, blockSize: 16 });
    await index.applyBatch(muts.slice(0, 900));
    await index.flush();
    await index.close();
    await store.close();
    // reopen: a restart, the stream replayed from an earlier point (duplicates ignored)
    const store2 = open();
    const index2 = createChannelIndex({ store: store2, maxBatch: 200, maxBatchDelayMs: 0, blockSize: 16 });
    await index2.applyBatch(muts.slice(600));
    await index2.flush();
    expect(index2.stats().counters.duplicates).toBe(300);

    const ref = createChannelIndex({
      store: createMemoryStore(),
      maxBatch: 1500,
      maxBatchDelayMs: 0,
      blockSize: 16,
    });
    await ref.applyBatch(muts);
    await ref.flush();
    expect(await dumpIndex(store2)).toEqual(await dumpIndex(ref.store));
    for (const chans of [['ch0'], ['ch5', 'ch7'], ['*']]) {
      expect(await index2.changes({ channels: chans, includeDocs: true })).toEqual(
        await ref.changes({ channels: chans, includeDocs: true }),
      );
    }
    await index2.close();
    await ref.close();
    await store2.close();
  });

  it('a read-only index on a second store instance serves what the writer writes, woken by it', async () => {
    const open = kind.backend();
    const ws = open();
    const rs = open();
    const writer = createChannelIndex({ store: ws, maxBatchDelayMs: 0 });
    const reader = createChannelIndex({
      store: rs,
      readOnly: true,
      pollIntervalMs: 20,
      fallbackPollIntervalMs: 200,
    });
    await writer.applyBatch([mut(1, 1, 'one', { channels: ['news'] })]);
    await writer.flush();
    const first = await reader.changes({ channels: ['news'] });
    expect(first.results.map((r) => r.id)).toEqual(['one']);
    for (let i = 2; i <= 4; i++) {
      const since = (await reader.changes({ channels: ['news'] })).lastSeq;
      // A longpoll's loop: wait, read, and wait again if the wake found nothing yet.
      const longpoll = (async () => {
        for (;;) {
          expect(await reader.waitForChanges({ channels: ['news'], since, timeoutMs: 10_000 })).toBe(true);
          const r = await reader.changes({ channels: ['news'], since });
          if (r.results.length) return r.results.map((e) => e.id);
        }
      })();
      await until(() => reader.stats().waiters === 1, 5000, 'reader waiter');
      await writer.applyBatch([mut(1, i, `d${i}`, { channels: ['news'] })]);
      expect(await longpoll).toEqual([`d${i}`]);
    }
    await writer.close();
    await reader.close();
    await ws.close();
    await rs.close();
  });
});
