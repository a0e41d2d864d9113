import { createRegistry, isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryStore, plugin, plugins } from '../src/index.js';
import { BTree } from '../src/internal/b-tree.js';

const enc = (s: string) => Buffer.from(s);

describe('store-memory', () => {
  it('registers as the "memory" store plugin and validates options', async () => {
    const registry = createRegistry();
    registry.register(plugin);
    expect(plugins).toContain(plugin);
    const store = await registry.create('store', 'memory', { scanPageSize: 2 });
    expect(store.name).toBe('memory');
    await store.batch(
      [0, 1, 2, 3, 4].map((i) => ({ type: 'put' as const, key: enc(`k${i}`), value: enc('v') })),
    );
    const keys: string[] = [];
    for await (const e of store.scan({ reverse: true })) keys.push(Buffer.from(e.key).toString());
    expect(keys).toEqual(['k4', 'k3', 'k2', 'k1', 'k0']);
    await store.close();
    let err: unknown;
    try {
      await registry.create('store', 'memory', { scanPageSize: 0 });
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
  });

  it('counts operations in stats()', async () => {
    const store = createMemoryStore();
    await store.batch([
      { type: 'put', key: enc('a'), value: enc('1') },
      { type: 'del', key: enc('b') },
    ]);
    await store.getMany([enc('a'), enc('b')]);
    for await (const _ of store.scan()) {
      /* drain */
    }
    expect(store.stats()).toMatchObject({ batches: 1, puts: 1, dels: 1, gets: 2, scans: 1, scannedRows: 1 });
    await store.close();
  });

  it('scans in byte-bounded steps: large values are copied out a few at a time, all rows in order', async () => {
    const store = createMemoryStore({ scanPageSize: 100, scanPageBytes: 2048 });
    const big = Buffer.alloc(1000, 7);
    await store.batch(
      Array.from({ length: 25 }, (_, i) => ({
        type: 'put' as const,
        key: enc(`k${String(i).padStart(2, '0')}`),
        value: big,
      })),
    );
    const keys: string[] = [];
    for await (const e of store.scan({ limit: 23 })) {
      keys.push(Buffer.from(e.key).toString());
      expect(Buffer.from(e.value).equals(big)).toBe(true);
    }
    expect(keys).toEqual(Array.from({ length: 23 }, (_, i) => `k${String(i).padStart(2, '0')}`));
    // a returned value is a copy: changing it leaves the stored one alone
    for await (const e of store.scan({ limit: 1 })) e.value.fill(0);
    expect(Buffer.from((await store.get(enc('k00')))!).equals(big)).toBe(true);
    await store.close();
  });

  it('a watcher that falls too far behind ends with TRIB_STORE_WATCH_OVERFLOW', async () => {
    const store = createMemoryStore({ maxWatchPending: 3 });
    const it = store.watch(enc('p'))[Symbol.asyncIterator]();
    await store.batch(
      [1, 2, 3, 4].map((i) => ({ type: 'put' as const, key: enc(`p${i}`), value: enc('v') })),
    );
    let err: unknown;
    try {
      await it.next();
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_STORE_WATCH_OVERFLOW')).toBe(true);
    // rewriting a pending key does not count twice
    const it2 = store.watch(enc('q'))[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) await store.batch([{ type: 'put', key: enc('q1'), value: enc(String(i)) }]);
    expect(Buffer.from((await it2.next()).value).toString()).toBe('q1');
    await store.close();
  });

  it('the B+tree (default node sizes) matches a sorted model under random puts, deletes and page reads', () => {
    const key = fc
      .uint8Array({ minLength: 1, maxLength: 4 })
      .map((a) => Buffer.from(a.map((b) => [0, 1, 0x7f, 0x80, 0xff][b % 5]!)));
    const op = fc.oneof(
      fc.record({ t: fc.constant('put' as const), k: key, v: fc.uint8Array({ maxLength: 3 }) }),
      fc.record({ t: fc.constant('del' as const), k: key }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        key,
        key,
        fc.boolean(),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 8 }),
        (ops, a, b, reverse, pageSize, maxBytes) => {
          const list = new BTree();
          const model = new Map<string, Buffer>();
          for (const o of ops) {
            if (o.t === 'put') {
              list.set(o.k, Buffer.from(o.v));
              model.set(o.k.toString('hex'), Buffer.from(o.v));
            } else {
              expect(list.delete(o.k)).toBe(model.delete(o.k.toString('hex')));
            }
          }
          expect(list.size).toBe(model.size);
          const [gte, lt] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
          let want = [...model.keys()]
            .map((h) => Buffer.from(h, 'hex'))
            .filter((k) => Buffer.compare(k, gte) >= 0 && Buffer.compare(k, lt) < 0);
          want.sort(Buffer.compare);
          if (reverse) want = want.reverse();
          const got: Buffer[] = [];
          let after: Buffer | undefined;
          for (;;) {
            const page = list.page(gte, lt, reverse, pageSize, after, maxBytes, (k, v) => [k, v] as const);
            if (page.length === 0) break;
            expect(page.length).toBeLessThanOrEqual(pageSize);
            // the byte budget stops a page once reached: every value but the last fits under it
            const before = page.slice(0, -1).reduce((n, [, v]) => n + v.length, 0);
            expect(before).toBeLessThan(maxBytes);
            got.push(...page.map(([k]) => k));
            after = page[page.length - 1]![0];
          }
          expect(got.map((k) => k.toString('hex'))).toEqual(want.map((k) => k.toString('hex')));
          for (const [h, v] of model) expect(list.get(Buffer.from(h, 'hex'))?.equals(v)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
