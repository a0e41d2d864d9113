// Shared by the store-* scenarios (kept in a subfolder so the harness does not load it as a
// scenario). Each target opens a store and, beside it, the same data layout written directly
// with the backend's client: the baseline that shows what the Store contract costs.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BatchOp, Store } from '@tributary/core';
import { createLmdbStore } from '@tributary/store-lmdb';
import { createMemoryStore } from '@tributary/store-memory';
import { createPostgresStore, DEFAULT_DATABASE_URL } from '@tributary/store-postgres';
import { createRedisStore, DEFAULT_REDIS_URL } from '@tributary/store-redis';
import bintrees from 'bintrees';
import { Redis } from 'ioredis';
import { open } from 'lmdb';
import pg from 'pg';

export interface RunResult {
  ops: number;
  seconds: number;
}

export interface Direct {
  /** Writes one batch of puts atomically, as the store would. */
  put(entries: [Buffer, Buffer][]): Promise<void>;
  /** Reads every row in key order; returns how many. */
  scanAll(): Promise<number>;
}

export interface Target {
  store: Store;
  direct: Direct;
  close(): Promise<void>;
}

export type TargetName = 'memory' | 'lmdb' | 'redis' | 'postgres';

const VALUE = randomBytes(100);
const PAGE = 512;

export async function openTarget(name: TargetName): Promise<Target> {
  switch (name) {
    case 'memory':
      return memoryTarget();
    case 'lmdb':
      return lmdbTarget();
    case 'redis':
      return redisTarget();
    case 'postgres':
      return postgresTarget();
  }
}

interface Row {
  /** latin1 id: one char per byte, so string order is bytewise key order (as the skip list does). */
  id: string;
  key: Buffer;
  value: Buffer;
}

const byId = (a: Row, b: Row) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function memoryTarget(): Target {
  const store = createMemoryStore();
  // The same work done directly with a well-known sorted structure (a red-black tree from
  // bintrees): ordered by bytewise key, keys and values copied in (callers may reuse their
  // buffers) and copied out (a caller writing to a returned value must not change the stored
  // one), as the contract has the memory store do. Scans read it synchronously, in order.
  const tree = new bintrees.RBTree<Row>(byId);
  return {
    store,
    direct: {
      async put(entries) {
        for (const [k, v] of entries) {
          const row: Row = { id: k.toString('latin1'), key: Buffer.from(k), value: Buffer.from(v) };
          if (!tree.insert(row)) tree.find(row)!.value = row.value;
        }
      },
      async scanAll() {
        let n = 0;
        let bytes = 0;
        const it = tree.iterator();
        for (let row = it.next(); row !== null; row = it.next()) {
          const entry = { key: Buffer.from(row.key), value: Buffer.from(row.value) };
          bytes += entry.value.length;
          n++;
        }
        if (bytes !== n * VALUE.length) throw new Error('memory baseline read the wrong values');
        return n;
      },
    },
    close: () => store.close(),
  };
}

function lmdbTarget(): Target {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-bench-lmdb-'));
  const store = createLmdbStore({ path: path.join(dir, 'store') });
  const db = open<Buffer, Buffer>({
    path: path.join(dir, 'direct'),
    keyEncoding: 'binary',
    encoding: 'binary',
  });
  return {
    store,
    direct: {
      async put(entries) {
        await db.transaction(() => {
          for (const [k, v] of entries) db.put(k, v);
        });
      },
      async scanAll() {
        let n = 0;
        for (const _ of db.getRange({})) n++;
        return n;
      },
    },
    async close() {
      await store.close();
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function redisTarget(): Target {
  const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
  const id = randomUUID();
  const storePrefix = `trib-bench:${id}:store:`;
  const directPrefix = `trib-bench:${id}:direct:`;
  const store = createRedisStore({ url, prefix: storePrefix });
  const r = new Redis(url);
  const idx = `${directPrefix}idx`;
  const val = `${directPrefix}val`;
  return {
    store,
    direct: {
      // the same layout: keys in a sorted set, values in a hash, one MULTI/EXEC
      async put(entries) {
        const members: (number | Buffer)[] = [];
        const fields: Buffer[] = [];
        for (const [k, v] of entries) {
          members.push(0, k);
          fields.push(k, v);
        }
        await r
          .multi()
          .zadd(idx, ...(members as never[]))
          .hset(val, ...(fields as never[]))
          .exec();
      },
      async scanAll() {
        let n = 0;
        let from: Buffer | string = '-';
        for (;;) {
          const keys = await r.zrangebylexBuffer(idx, from, '+', 'LIMIT', 0, PAGE);
          if (keys.length === 0) return n;
          const vals = await r.hmgetBuffer(val, ...keys);
          n += vals.length;
          if (keys.length < PAGE) return n;
          from = Buffer.concat([Buffer.from('('), keys[keys.length - 1]!]);
        }
      },
    },
    async close() {
      await store.close();
      await r.del(idx, val, `${storePrefix}idx`, `${storePrefix}val`);
      await r.quit();
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const connectionString = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const id = randomBytes(4).toString('hex');
  const storeTable = `trib_bench_${id}_store`;
  const directTable = `trib_bench_${id}_direct`;
  const store = createPostgresStore({ connectionString, table: storeTable });
  const pool = new pg.Pool({ connectionString, max: 4 });
  await pool.query(`CREATE TABLE "${directTable}" (k bytea PRIMARY KEY, v bytea NOT NULL)`);
  const insert = `INSERT INTO "${directTable}" (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`;
  return {
    store,
    direct: {
      async put(entries) {
        await pool.query({
          name: 'bench_insert',
          text: insert,
          values: [entries.map((e) => e[0]), entries.map((e) => e[1])],
        });
      },
      async scanAll() {
        let n = 0;
        let rows = (
          await pool.query({
            name: 'bench_first',
            text: `SELECT k, v FROM "${directTable}" ORDER BY k LIMIT ${PAGE}`,
          })
        ).rows;
        for (;;) {
          n += rows.length;
          if (rows.length < PAGE) return n;
          rows = (
            await pool.query({
              name: 'bench_next',
              text: `SELECT k, v FROM "${directTable}" WHERE k > $1 ORDER BY k LIMIT ${PAGE}`,
              values: [rows[rows.length - 1].k],
            })
          ).rows;
        }
      },
    },
    async close() {
      await store.close();
      await pool.query(`DROP TABLE IF EXISTS "${directTable}"`);
      await pool.query(`DROP TABLE IF EXISTS "${storeTable}"`);
      await pool
        .query('DELETE FROM tributary_store_migrations WHERE store_table = $1', [storeTable])
        .catch(() => {});
      await pool.end();
    },
  };
}

/** Fresh keys every call (never overwrites): `k/<10-digit counter>`. */
function makeBatches(state: { next: number }, batches: number, size: number): [Buffer, Buffer][][] {
  const out: [Buffer, Buffer][][] = [];
  for (let b = 0; b < batches; b++) {
    const batch: [Buffer, Buffer][] = new Array(size);
    for (let i = 0; i < size; i++)
      batch[i] = [Buffer.from(`k/${String(state.next++).padStart(10, '0')}`), VALUE];
    out.push(batch);
  }
  return out;
}

const secondsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

export interface PutState {
  target: Target;
  subjectKeys: { next: number };
  baselineKeys: { next: number };
}

/** Batched puts: `batchSize` keys of 100-byte values per batch. */
export function putScenario(name: TargetName, batchSize: number, goal: boolean) {
  const batchesFor = (quick: boolean) => Math.max(2, Math.round((quick ? 4_000 : 40_000) / batchSize));
  return {
    name: `store.${name}.put-batch-${batchSize}`,
    issue: 7,
    unit: 'puts/s',
    ...(goal ? { goal: { text: 'subject >= 0.8 x direct client', ratioAtLeast: 0.8 } } : {}),
    setup: async (): Promise<PutState> => ({
      target: await openTarget(name),
      subjectKeys: { next: 0 },
      baselineKeys: { next: 0 },
    }),
    subject: async (state: PutState, { quick }: { quick: boolean }): Promise<RunResult> => {
      const batches = makeBatches(state.subjectKeys, batchesFor(quick), batchSize).map((b) =>
        b.map(([key, value]): BatchOp => ({ type: 'put', key, value })),
      );
      const t0 = process.hrtime.bigint();
      for (const ops of batches) await state.target.store.batch(ops);
      return { ops: batches.length * batchSize, seconds: secondsSince(t0) };
    },
    baseline: async (state: PutState, { quick }: { quick: boolean }): Promise<RunResult> => {
      const batches = makeBatches(state.baselineKeys, batchesFor(quick), batchSize);
      const t0 = process.hrtime.bigint();
      for (const entries of batches) await state.target.direct.put(entries);
      return { ops: batches.length * batchSize, seconds: secondsSince(t0) };
    },
    teardown: async (state: PutState) => state.target.close(),
  };
}

export interface ScanState {
  target: Target;
  rows: number;
}

/** Scanned rows per second over a full ordered scan of `rows` rows of 100-byte values. */
export function scanScenario(name: TargetName, goal: boolean) {
  return {
    name: `store.${name}.scan`,
    issue: 7,
    unit: 'rows/s',
    ...(goal ? { goal: { text: 'subject >= 0.8 x direct client', ratioAtLeast: 0.8 } } : {}),
    setup: async ({ quick }: { quick: boolean }): Promise<ScanState> => {
      const target = await openTarget(name);
      const rows = quick ? 5_000 : 50_000;
      const keys = { next: 0 };
      for (const batch of makeBatches(keys, rows / 1000, 1000)) {
        await target.store.batch(batch.map(([key, value]) => ({ type: 'put', key, value })));
        await target.direct.put(batch);
      }
      return { target, rows };
    },
    subject: async (state: ScanState): Promise<RunResult> => {
      const t0 = process.hrtime.bigint();
      let n = 0;
      for await (const _ of state.target.store.scan()) n++;
      if (n !== state.rows) throw new Error(`scanned ${n} rows, expected ${state.rows}`);
      return { ops: n, seconds: secondsSince(t0) };
    },
    baseline: async (state: ScanState): Promise<RunResult> => {
      const t0 = process.hrtime.bigint();
      const n = await state.target.direct.scanAll();
      if (n !== state.rows) throw new Error(`scanned ${n} rows, expected ${state.rows}`);
      return { ops: n, seconds: secondsSince(t0) };
    },
    teardown: async (state: ScanState) => state.target.close(),
  };
}
