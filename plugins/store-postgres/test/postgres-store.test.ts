import { startChaosProxy } from '@tributary/chaos-proxy';
import { createRegistry, isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresStore,
  decodeNotifyPayload,
  encodeNotifyPayloads,
  MIGRATIONS_TABLE,
  plugin,
  plugins,
  SCHEMA_VERSION,
} from '../src/index.js';
import { connectionString, dropTable, requirePostgres, uniqueTable } from './helpers.js';

const b = (s: string) => Buffer.from(s);

async function sql<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

async function rejection(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

beforeAll(requirePostgres);

describe('store-postgres', () => {
  it('registers as the "postgres" store plugin and validates options', async () => {
    const table = uniqueTable();
    const registry = createRegistry();
    registry.register(plugin);
    expect(plugins).toContain(plugin);
    const store = await registry.create('store', 'postgres', { connectionString, table });
    try {
      expect(store.name).toBe('postgres');
      await store.batch([{ type: 'put', key: b('a'), value: b('1') }]);
      expect(Buffer.from((await store.get(b('a')))!).toString()).toBe('1');
    } finally {
      await store.close();
      await dropTable(table);
    }
    const err = await rejection(async () =>
      registry.create('store', 'postgres', { table: 'bad; drop table x' }),
    );
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
  });

  it('creates the table on first use, once, and records the schema version', async () => {
    const table = uniqueTable();
    const stores = [0, 1, 2].map(() => createPostgresStore({ connectionString, table }));
    try {
      expect(await sql('SELECT 1 FROM pg_tables WHERE tablename = $1', [table])).toHaveLength(0);
      // three first uses at once: the advisory lock makes them create it exactly once
      await Promise.all(stores.map((s, i) => s.batch([{ type: 'put', key: b(`k${i}`), value: b('v') }])));
      const rows = await sql<{ version: number }>(
        `SELECT version FROM ${MIGRATIONS_TABLE} WHERE store_table = $1`,
        [table],
      );
      expect(rows).toEqual([{ version: SCHEMA_VERSION }]);
      const cols = await sql<{ column_name: string; data_type: string }>(
        'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
        [table],
      );
      expect(cols).toEqual([
        { column_name: 'k', data_type: 'bytea' },
        { column_name: 'v', data_type: 'bytea' },
      ]);
      expect((await stores[0]!.getMany([b('k0'), b('k1'), b('k2')])).every((v) => v !== undefined)).toBe(
        true,
      );
    } finally {
      for (const s of stores) await s.close();
      await dropTable(table);
    }
  });

  it('creates the table again when it was dropped but its version row was left behind', async () => {
    const table = uniqueTable();
    const first = createPostgresStore({ connectionString, table });
    await first.batch([{ type: 'put', key: b('a'), value: b('1') }]);
    await first.close();
    await sql(`DROP TABLE "${table}"`);
    const store = createPostgresStore({ connectionString, table });
    try {
      expect(await store.get(b('a'))).toBeUndefined();
      await store.batch([{ type: 'put', key: b('b'), value: b('2') }]);
      expect(Buffer.from((await store.get(b('b')))!).toString()).toBe('2');
    } finally {
      await store.close();
      await dropTable(table);
    }
  });

  it('refuses a table migrated by a newer plugin version', async () => {
    const table = uniqueTable();
    const first = createPostgresStore({ connectionString, table });
    await first.batch([{ type: 'put', key: b('a'), value: b('1') }]);
    await first.close();
    await sql(`UPDATE ${MIGRATIONS_TABLE} SET version = 99 WHERE store_table = $1`, [table]);
    const store = createPostgresStore({ connectionString, table });
    try {
      const err = await rejection(() => store.get(b('a')));
      expect(isTributaryError(err, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(/schema version 99/);
    } finally {
      await store.close();
      await dropTable(table);
    }
  });

  it('a batch that fails inside Postgres part-way leaves nothing behind', async () => {
    const table = uniqueTable();
    const store = createPostgresStore({ connectionString, table });
    try {
      await store.batch([{ type: 'put', key: b('keep'), value: b('old') }]);
      // a constraint Postgres checks row by row: the 501st row of the batch violates it
      await sql(`ALTER TABLE "${table}" ADD CONSTRAINT small CHECK (octet_length(v) < 100)`);
      const ops = Array.from({ length: 500 }, (_, i) => ({
        type: 'put' as const,
        key: b(`row${i}`),
        value: b('v'),
      }));
      ops.push(
        { type: 'put', key: b('keep'), value: b('new') },
        { type: 'put', key: b('zz-too-big'), value: Buffer.alloc(200) },
      );
      const err = await rejection(() => store.batch(ops));
      expect(isTributaryError(err, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).cause).toBeDefined();
      const rows: string[] = [];
      for await (const e of store.scan()) rows.push(Buffer.from(e.key).toString());
      expect(rows).toEqual(['keep']);
      expect(Buffer.from((await store.get(b('keep')))!).toString()).toBe('old');
    } finally {
      await store.close();
      await dropTable(table);
    }
  });

  it('stores on different tables do not see each other, nor each other’s notifications', async () => {
    const t1 = uniqueTable();
    const t2 = uniqueTable();
    const s1 = createPostgresStore({ connectionString, table: t1 });
    const s2 = createPostgresStore({ connectionString, table: t2 });
    try {
      const ac = new AbortController();
      const w2 = s2.watch(b(''), { signal: ac.signal });
      await w2.ready;
      const next = w2[Symbol.asyncIterator]().next();
      await s1.batch([{ type: 'put', key: b('only-in-1'), value: b('1') }]);
      await s2.batch([{ type: 'put', key: b('only-in-2'), value: b('2') }]);
      expect(Buffer.from((await next).value).toString()).toBe('only-in-2');
      ac.abort();
      expect(await s2.get(b('only-in-1'))).toBeUndefined();
    } finally {
      await s1.close();
      await s2.close();
      await dropTable(t1);
      await dropTable(t2);
    }
  });

  it('watchers end with TRIB_STORE_UNAVAILABLE when the LISTEN connection is terminated', async () => {
    const table = uniqueTable();
    const store = createPostgresStore({ connectionString, table });
    try {
      const watched = store.watch(b('k'));
      await watched.ready;
      // settle into a value at once so the rejection is never momentarily unhandled
      const pending = watched[Symbol.asyncIterator]()
        .next()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      const killed = await sql<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()`,
        [`LISTEN "${store.channel}"`],
      );
      expect(killed).toEqual([{ ok: true }]);
      const err = await pending;
      expect(isTributaryError(err, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
      // watching again reconnects
      const again = store.watch(b('k'));
      await again.ready;
      const it2 = again[Symbol.asyncIterator]();
      await store.batch([{ type: 'put', key: b('k1'), value: b('v') }]);
      expect(Buffer.from((await it2.next()).value).toString()).toBe('k1');
    } finally {
      await store.close();
      await dropTable(table);
    }
  });

  it('NOTIFY payloads stay under 8000 bytes and round-trip any keys (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 1978 }), { maxLength: 30 }), (keys) => {
        const payloads = encodeNotifyPayloads(keys.map((k) => Buffer.from(k)));
        for (const p of payloads) expect(p.length).toBeLessThan(8000);
        const decoded = payloads.flatMap(decodeNotifyPayload);
        expect(decoded.map((k) => k.toString('hex'))).toEqual(
          keys.map((k) => Buffer.from(k).toString('hex')),
        );
        // the earlier format (hex keys joined by commas) from a writer on an older version
        const old = keys.length > 0 ? keys.map((k) => Buffer.from(k).toString('hex')).join(',') : '';
        expect(decodeNotifyPayload(old).map((k) => k.toString('hex'))).toEqual(
          keys.map((k) => Buffer.from(k).toString('hex')),
        );
      }),
    );
  });

  it('pages by row count and by value bytes, forward and reverse, with limits', async () => {
    const table = uniqueTable();
    const store = createPostgresStore({ connectionString, table, scanPageBytes: 64, scanPageSize: 7 });
    try {
      const keys = Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(3, '0')}`);
      // values of varying size around the 64-byte page budget
      await store.batch(
        keys.map((k, i) => ({ type: 'put' as const, key: b(k), value: Buffer.alloc((i * 7) % 50, i) })),
      );
      const read = async (o: Parameters<typeof store.scan>[0]) => {
        const out: string[] = [];
        for await (const e of store.scan(o)) {
          const i = keys.indexOf(Buffer.from(e.key).toString());
          expect(e.value.length).toBe((i * 7) % 50);
          out.push(keys[i]!);
        }
        return out;
      };
      expect(await read({})).toEqual(keys);
      expect(await read({ reverse: true })).toEqual([...keys].reverse());
      expect(await read({ gte: b('p010'), lt: b('p050'), limit: 25 })).toEqual(keys.slice(10, 35));
      expect(await read({ gte: b('p010'), lt: b('p050'), limit: 25, reverse: true })).toEqual(
        keys.slice(25, 50).reverse(),
      );
    } finally {
      await store.close();
      await dropTable(table);
    }
  });
});

describe('store-postgres outages', () => {
  it('rejects with TRIB_STORE_UNAVAILABLE while Postgres is cut off or silent, and recovers after', {
    timeout: 30_000,
  }, async () => {
    const target = new URL(connectionString);
    const proxy = await startChaosProxy({
      target: { host: target.hostname, port: Number(target.port || 5432) },
    });
    const viaProxy = new URL(connectionString);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.address().port);
    const table = uniqueTable();
    const store = createPostgresStore({
      connectionString: viaProxy.toString(),
      table,
      queryTimeoutMs: 500,
      connectTimeoutMs: 1000,
    });
    const works = async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          return Buffer.from((await store.get(b('a')))!).toString();
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
      }
    };
    try {
      await store.batch([{ type: 'put', key: b('a'), value: b('1') }]);
      proxy.refuseNew();
      proxy.reset();
      const refused = await store.batch([{ type: 'put', key: b('b'), value: b('2') }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTributaryError(refused, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
      expect((refused as Error).cause).toBeDefined();
      proxy.resume();
      expect(await works()).toBe('1');
      // a silent network path: the query timeout turns a hang into TRIB_STORE_UNAVAILABLE
      proxy.blackhole();
      const silent = await store.get(b('a')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTributaryError(silent, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
      proxy.resume();
      expect(await works()).toBe('1');
      expect(await store.get(b('b'))).toBeUndefined();
    } finally {
      await store.close();
      await proxy.close();
      await dropTable(table);
    }
  });
});
