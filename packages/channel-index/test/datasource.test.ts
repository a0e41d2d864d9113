import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChannelIndex, createChannelIndex } from '@tributary/channel-index';
import { type Cluster, startCluster } from '@tributary/cluster';
import type { Store } from '@tributary/core';
import { type BucketDataSource, createBucketDataSource } from '@tributary/datasource';
import { createLmdbStore } from '@tributary/store-lmdb';
import { createMemoryStore } from '@tributary/store-memory';
import { createPostgresStore } from '@tributary/store-postgres';
import { createRedisStore } from '@tributary/store-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './helpers.js';

// The embedded cluster streamed by a real datasource straight into the index (the index is the
// datasource's Receiver), on every store plugin; then a failover that loses mutations (rollback).
const KEYS = 400;
const CHANNELS = ['red', 'green', 'blue', 'gold'];
const run = `${process.pid}_${Date.now().toString(36)}`;
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, vbuckets: 64, buckets: ['default'], users: { app: 'secret' } });
});
afterAll(async () => {
  await cluster?.close();
  for (const c of cleanups) await c().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let round = 0;
/** Writes, moves documents between channels, deletes some. */
function write(n: number): void {
  const b = cluster.bucket('default');
  for (let i = 0; i < n; i++) {
    round++;
    const k = `doc${(round * 7919) % KEYS}`;
    try {
      if (round % 11 === 0) {
        if (b.get(k)) b.remove(k);
      } else {
        const chans = CHANNELS.filter((_, j) => (round >> j) % 3 === 0);
        b.upsert(k, { channels: chans.length === 1 ? chans[0] : chans, round });
      }
    } catch {
      // a node is down: the application would retry; the expectation reads the bucket
    }
  }
}

/** What each channel must hold now, read from the bucket itself. */
function expected(): Map<string, Set<string>> {
  const b = cluster.bucket('default');
  const out = new Map(CHANNELS.map((c) => [c, new Set<string>()]));
  for (let i = 0; i < KEYS; i++) {
    const g = b.get(`doc${i}`);
    if (!g) continue;
    const body = JSON.parse(Buffer.from(g.value as Uint8Array).toString());
    for (const c of [body.channels].flat()) out.get(c)?.add(`doc${i}`);
  }
  return out;
}

async function caughtUp(index: ChannelIndex): Promise<void> {
  await until(
    () => {
      const hs = cluster.bucket('default').highSeqnos();
      const st = index.stableClock();
      return hs.every((s, vb) => (st.get(vb) ?? 0) >= s);
    },
    30_000,
    'index caught up with the bucket',
  );
}

async function sameAsBucket(index: ChannelIndex): Promise<void> {
  const want = expected();
  for (const c of CHANNELS) {
    const got = await index.changes({ channels: [c], activeOnly: true });
    expect(new Set(got.results.map((r) => r.id)), c).toEqual(want.get(c));
  }
  const all = await index.changes({ channels: ['*'], activeOnly: true });
  expect(all.results.length).toBe(
    [...new Set([...want.values()].flatMap((s) => [...s]))].length + (await docsWithoutChannels()),
  );
}

async function docsWithoutChannels(): Promise<number> {
  const b = cluster.bucket('default');
  let n = 0;
  for (let i = 0; i < KEYS; i++) {
    const g = b.get(`doc${i}`);
    if (g && [JSON.parse(Buffer.from(g.value as Uint8Array).toString()).channels].flat().length === 0) n++;
  }
  return n;
}

/** A reader following one channel from where it was: applies every page to its member set. */
async function follow(
  index: ChannelIndex,
  channel: string,
  r: { members: Set<string>; since: string; rolledBack: boolean },
): Promise<void> {
  for (;;) {
    const page = await index.changes({ channels: [channel], since: r.since, limit: 100 });
    if (page.rolledBack) r.rolledBack = true;
    for (const e of page.results) {
      if (e.deleted || e.removed?.includes(channel)) r.members.delete(e.id);
      else r.members.add(e.id);
    }
    const moved = page.lastSeq !== r.since;
    r.since = page.lastSeq;
    if (!moved || page.results.length === 0) return;
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function source(index: ChannelIndex): BucketDataSource {
  return createBucketDataSource({
    serverUrls: cluster.nodes.map((n) => `http://127.0.0.1:${n.mgmtPort}`),
    bucketName: 'default',
    auth: { username: 'app', password: 'secret' },
    receiver: index,
    options: { seqnoPollIntervalMs: 100 },
  });
}

const stores: [string, () => Store][] = [
  ['memory', () => createMemoryStore()],
  [
    'lmdb',
    () => {
      const d = mkdtempSync(join(tmpdir(), 'ci-ds-'));
      dirs.push(d);
      return createLmdbStore({ path: join(d, 'db') });
    },
  ],
  [
    'redis',
    () => {
      const prefix = `ci-ds:${run}:${Math.random().toString(36).slice(2)}:`;
      cleanups.push(async () => {
        const { Redis } = await import('ioredis');
        const r = new Redis('redis://127.0.0.1:6379');
        const keys = await r.keys(`${prefix}*`);
        if (keys.length) await r.del(...keys);
        await r.quit();
      });
      return createRedisStore({ url: 'redis://127.0.0.1:6379', prefix });
    },
  ],
  [
    'postgres',
    () => {
      const table = `ci_ds_${run}_${Math.random().toString(36).slice(2, 8)}`;
      cleanups.push(async () => {
        const pg = await import('pg');
        const c = new pg.default.Client({ connectionString: 'postgres://root@127.0.0.1:5432/test' });
        await c.connect();
        await c.query(`DROP TABLE IF EXISTS ${table}`);
        await c.end();
      });
      return createPostgresStore({ connectionString: 'postgres://root@127.0.0.1:5432/test', table });
    },
  ],
];

describe('datasource → channel index', () => {
  it.each(stores)(
    'streams the bucket into the index on store-%s; channels equal the bucket',
    async (_name, open) => {
      write(600);
      const store = open();
      const index = createChannelIndex({ store, maxBatchDelayMs: 1 });
      const ds = source(index);
      await ds.start();
      write(400); // while streaming
      await caughtUp(index);
      await sameAsBucket(index);
      expect(index.stats().counters.mutations).toBeGreaterThan(0);
      await ds.close();
      // a restart resumes from the checkpoints kept with the entries
      const index2 = createChannelIndex({ store, maxBatchDelayMs: 1 });
      const ds2 = source(index2);
      await ds2.start();
      write(200);
      await caughtUp(index2);
      await sameAsBucket(index2);
      expect(index2.stats().counters.mutations ?? 0).toBeLessThan(400);
      await ds2.close();
      await index.close();
      await index2.close();
      await store.close();
    },
    60_000,
  );

  it('a failover that loses mutations rolls the index back; it ends equal to the bucket', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 1 });
    const ds = source(index);
    await ds.start();
    write(1000);
    await caughtUp(index);
    // Long-lived readers: each holds its channel's members and position from before the failover.
    const readers = new Map<string, { members: Set<string>; since: string; rolledBack: boolean }>();
    for (const c of CHANNELS) {
      const r = { members: new Set<string>(), since: '0', rolledBack: false };
      await follow(index, c, r);
      readers.set(c, r);
    }
    // and one of them is waiting when the rollback comes (no write follows it before we check)
    const waiting = index.waitForChanges({
      channels: ['red'],
      since: readers.get('red')!.since,
      timeoutMs: 30_000,
    });
    await cluster.failover(1, { loseLast: 3 });
    await until(() => (index.stats().counters.rollbacks ?? 0) > 0, 30_000, 'a rollback');
    expect(await waiting).toBe(true);
    write(500);
    await caughtUp(index);
    // Following their old positions, the readers are told of the rollback and end equal to the
    // bucket: the seqnos the new branch reused were not skipped, reverted documents came again.
    await until(
      async () => {
        for (const [c, r] of readers) await follow(index, c, r);
        const want = expected();
        return CHANNELS.every((c) => sameSet(readers.get(c)!.members, want.get(c)!));
      },
      20_000,
      'long-lived readers equal to the bucket',
    );
    expect([...readers.values()].some((r) => r.rolledBack)).toBe(true);
    await until(
      async () => {
        try {
          await sameAsBucket(index);
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      'index equal to the bucket after the rollback',
    );
    await sameAsBucket(index);
    await ds.close();
    await index.close();
    await store.close();
  }, 60_000);
});
