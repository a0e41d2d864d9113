import { describe, expect, it } from 'vitest';
import type { BatchOp, Store, StoreEntry } from '../contracts/store.js';
import { isTributaryError } from '../errors.js';

export interface StoreConformanceOptions {
  /** Opens a store over a fresh, empty namespace; called once per test. */
  open: () => Promise<Store>;
  /** Opens a second instance over the same namespace as the last `open` (durability, watch). */
  reopen?: () => Promise<Store>;
  /** Data written before close() is there after reopen() (needs `reopen`). */
  durable?: boolean;
  /**
   * A store pointed at a backend that is down (a dead port, an unusable path). Every operation
   * must reject with TRIB_STORE_UNAVAILABLE carrying a cause. Omit for in-process stores.
   */
  backendDown?: () => Promise<Store>;
  /** Values this large must round-trip (default 16 MiB). */
  largeValueBytes?: number;
  /** Keys in the big-batch case (default 10,000). */
  bigBatchKeys?: number;
  /** Runs after every test (drop the table, delete the Redis keys, remove the directory). */
  cleanup?: () => Promise<void>;
  /** Per-test timeout in ms (default 30,000). */
  timeoutMs?: number;
}

const enc = (s: string) => new TextEncoder().encode(s);
const bytes = (...b: number[]) => Uint8Array.from(b);
const hex = (b: Uint8Array | undefined) =>
  b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const cmp = (a: Uint8Array, b: Uint8Array) =>
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
const put = (key: Uint8Array, value: Uint8Array): BatchOp => ({ type: 'put', key, value });
const del = (key: Uint8Array): BatchOp => ({ type: 'del', key });

async function collect(iterable: AsyncIterable<StoreEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of iterable) out.push(`${hex(e.key)}=${hex(e.value)}`);
  return out;
}

async function keysOf(iterable: AsyncIterable<StoreEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of iterable) out.push(hex(e.key)!);
  return out;
}

async function rejection(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Deterministic pseudo-random bytes (xorshift), so a failure reproduces. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Keys with 0x00 and 0xff in every position, shorter and longer than each other. */
const ORDER_KEYS = [
  bytes(0x00),
  bytes(0x00, 0x00),
  bytes(0x00, 0xff),
  bytes(0x01),
  bytes(0x7f),
  bytes(0x80),
  bytes(0x80, 0x00),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
  bytes(0xff, 0xff, 0xff),
  enc('a'),
  enc('a\u0000'),
  enc('ab'),
  enc('b'),
];

/** The cases every store plugin, ours or a third party's, must pass. */
export function runStoreConformance(name: string, options: StoreConformanceOptions): void {
  const timeout = options.timeoutMs ?? 30_000;
  const largeBytes = options.largeValueBytes ?? 16 * 1024 * 1024;
  const bigBatch = options.bigBatchKeys ?? 10_000;

  /** Opens a fresh store, runs `f`, closes every store it opened, then cleans up. */
  async function withStore(f: (store: Store, opened: Store[]) => Promise<void>): Promise<void> {
    const opened: Store[] = [];
    try {
      const store = await options.open();
      opened.push(store);
      await f(store, opened);
    } finally {
      for (const s of opened) await s.close();
      await options.cleanup?.();
    }
  }

  function sortedHex(keys: Uint8Array[]): string[] {
    return [...keys].sort(cmp).map((k) => hex(k)!);
  }

  describe(`store conformance: ${name}`, () => {
    it('puts, gets and deletes through batches', { timeout }, async () => {
      await withStore(async (store) => {
        expect(typeof store.name).toBe('string');
        await store.batch([put(enc('a'), enc('1'))]);
        expect(hex(await store.get(enc('a')))).toBe(hex(enc('1')));
        await store.batch([put(enc('a'), enc('2'))]);
        expect(hex(await store.get(enc('a')))).toBe(hex(enc('2')));
        await store.batch([del(enc('a'))]);
        expect(await store.get(enc('a'))).toBeUndefined();
        // deleting what is not there is fine; an empty batch is fine
        await store.batch([del(enc('never'))]);
        await store.batch([]);
        expect(await store.get(enc('never'))).toBeUndefined();
      });
    });

    it('stores empty values and binary values byte for byte', { timeout }, async () => {
      await withStore(async (store) => {
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        await store.batch([put(enc('empty'), new Uint8Array(0)), put(enc('all'), all)]);
        const empty = await store.get(enc('empty'));
        expect(empty).toBeInstanceOf(Uint8Array);
        expect(empty!.byteLength).toBe(0);
        expect(hex(await store.get(enc('all')))).toBe(hex(all));
      });
    });

    it('applies ops in order within a batch (last write to a key wins)', { timeout }, async () => {
      await withStore(async (store) => {
        await store.batch([
          put(enc('k'), enc('1')),
          put(enc('k'), enc('2')),
          del(enc('gone')),
          put(enc('gone'), enc('x')),
          del(enc('gone')),
        ]);
        expect(hex(await store.get(enc('k')))).toBe(hex(enc('2')));
        expect(await store.get(enc('gone'))).toBeUndefined();
        await store.batch([del(enc('k')), put(enc('k'), enc('3'))]);
        expect(hex(await store.get(enc('k')))).toBe(hex(enc('3')));
      });
    });

    it('getMany returns values in the order asked, undefined where missing', { timeout }, async () => {
      await withStore(async (store) => {
        await store.batch([put(enc('x'), enc('1')), put(enc('z'), enc('3'))]);
        const got = await store.getMany([enc('z'), enc('y'), enc('x'), enc('z')]);
        expect(got.map(hex)).toEqual([hex(enc('3')), undefined, hex(enc('1')), hex(enc('3'))]);
        expect(await store.getMany([])).toEqual([]);
      });
    });

    it('does not keep references to the caller’s buffers', { timeout }, async () => {
      await withStore(async (store) => {
        const key = enc('mut');
        const value = enc('before');
        await store.batch([put(key, value)]);
        value.fill(0x21);
        key.fill(0x21);
        expect(hex(await store.get(enc('mut')))).toBe(hex(enc('before')));
        const got = await store.get(enc('mut'));
        got!.fill(0x22);
        expect(hex(await store.get(enc('mut')))).toBe(hex(enc('before')));
      });
    });

    it('orders keys bytewise, including 0x00 and 0xff bytes', { timeout }, async () => {
      await withStore(async (store) => {
        const shuffled = [...ORDER_KEYS].reverse();
        await store.batch(shuffled.map((k, i) => put(k, bytes(i))));
        expect(await keysOf(store.scan())).toEqual(sortedHex(ORDER_KEYS));
        expect(await keysOf(store.scan({ reverse: true }))).toEqual(sortedHex(ORDER_KEYS).reverse());
        for (const k of ORDER_KEYS) expect(hex(await store.get(k))).toBe(hex(bytes(shuffled.indexOf(k))));
      });
    });

    it('scans by prefix, including prefixes ending in 0xff', { timeout }, async () => {
      await withStore(async (store) => {
        await store.batch(ORDER_KEYS.map((k) => put(k, bytes(1))));
        const expectPrefix = async (prefix: Uint8Array) => {
          const want = sortedHex(
            ORDER_KEYS.filter(
              (k) => k.length >= prefix.length && cmp(k.subarray(0, prefix.length), prefix) === 0,
            ),
          );
          expect(await keysOf(store.scan({ prefix }))).toEqual(want);
          expect(await keysOf(store.scan({ prefix, reverse: true }))).toEqual([...want].reverse());
          return want.length;
        };
        expect(await expectPrefix(bytes(0x00))).toBe(3);
        expect(await expectPrefix(bytes(0xff))).toBe(4);
        expect(await expectPrefix(bytes(0xff, 0xff))).toBe(2);
        expect(await expectPrefix(bytes(0x80))).toBe(2);
        expect(await expectPrefix(enc('a'))).toBe(3);
        expect(await expectPrefix(enc('c'))).toBe(0);
        // an empty prefix means everything
        expect(await keysOf(store.scan({ prefix: new Uint8Array(0) }))).toEqual(sortedHex(ORDER_KEYS));
      });
    });

    it('scans ranges [gte, lt), reversed and limited, combined with a prefix', { timeout }, async () => {
      await withStore(async (store) => {
        const keys = Array.from({ length: 30 }, (_, i) => enc(`k${String(i).padStart(2, '0')}`));
        await store.batch([
          ...keys.map((k, i) => put(k, enc(`v${i}`))),
          put(enc('j'), enc('-')),
          put(enc('l'), enc('-')),
        ]);
        const names = async (o: Parameters<Store['scan']>[0]) =>
          (await keysOf(store.scan(o))).map((h) => Buffer.from(h, 'hex').toString());
        const ks = (from: number, to: number) =>
          Array.from({ length: to - from }, (_, i) => `k${String(from + i).padStart(2, '0')}`);
        expect(await names({ gte: enc('k05'), lt: enc('k10') })).toEqual(ks(5, 10));
        expect(await names({ gte: enc('k05'), lt: enc('k10'), reverse: true })).toEqual(ks(5, 10).reverse());
        expect(await names({ gte: enc('k05'), lt: enc('k10'), limit: 2 })).toEqual(ks(5, 7));
        expect(await names({ gte: enc('k05'), lt: enc('k10'), limit: 2, reverse: true })).toEqual([
          'k09',
          'k08',
        ]);
        // bounds that are not keys
        expect(await names({ gte: enc('k045'), lt: enc('k065') })).toEqual(['k05', 'k06']);
        expect(await names({ gte: enc('k28') })).toEqual(['k28', 'k29', 'l']);
        expect(await names({ lt: enc('k01') })).toEqual(['j', 'k00']);
        expect(await names({ lt: enc('k01'), reverse: true })).toEqual(['k00', 'j']);
        // prefix narrows gte/lt and vice versa
        expect(await names({ prefix: enc('k'), gte: enc('a'), lt: enc('z') })).toEqual(ks(0, 30));
        expect(await names({ prefix: enc('k2'), gte: enc('k25') })).toEqual(ks(25, 30));
        expect(await names({ prefix: enc('k'), lt: enc('k03'), reverse: true })).toEqual([
          'k02',
          'k01',
          'k00',
        ]);
        expect(await names({ prefix: enc('k1'), limit: 3, reverse: true })).toEqual(['k19', 'k18', 'k17']);
        // empty ranges and limits
        expect(await names({ gte: enc('k10'), lt: enc('k10') })).toEqual([]);
        expect(await names({ gte: enc('k20'), lt: enc('k10') })).toEqual([]);
        expect(await names({ limit: 0 })).toEqual([]);
        expect(await names({ prefix: enc('k'), limit: 1000 })).toHaveLength(30);
        // values come with their keys
        const entries = await collect(store.scan({ gte: enc('k03'), limit: 1 }));
        expect(entries).toEqual([`${hex(enc('k03'))}=${hex(enc('v3'))}`]);
      });
    });

    it('stops early without error when the consumer breaks out of a scan', { timeout }, async () => {
      await withStore(async (store) => {
        await store.batch(
          Array.from({ length: 600 }, (_, i) => put(enc(`e${String(i).padStart(4, '0')}`), enc('v'))),
        );
        let n = 0;
        for await (const _ of store.scan({ prefix: enc('e') })) if (++n === 3) break;
        expect(n).toBe(3);
        // the store is still usable, and a full scan crosses any internal page size
        expect(await keysOf(store.scan({ prefix: enc('e') }))).toHaveLength(600);
        expect(await keysOf(store.scan({ prefix: enc('e'), reverse: true, limit: 513 }))).toHaveLength(513);
      });
    });

    it('a scan interleaved with writes stays in order, sees no key twice and misses none that stayed', {
      timeout,
    }, async () => {
      await withStore(async (store) => {
        const key = (i: number, suffix = '') => enc(`s/${String(i).padStart(4, '0')}${suffix}`);
        const stable = Array.from({ length: 700 }, (_, i) => key(i));
        await store.batch(stable.map((k) => put(k, enc('v'))));
        const next = rng(7);
        for (const reverse of [false, true]) {
          const seen = new Set<string>();
          let last: Uint8Array | undefined;
          let n = 0;
          for await (const e of store.scan({ prefix: enc('s/'), reverse })) {
            const h = hex(e.key)!;
            expect(seen.has(h)).toBe(false);
            seen.add(h);
            if (last) expect(cmp(last, e.key) * (reverse ? -1 : 1)).toBeLessThan(0);
            last = e.key;
            // writes behind and ahead of the cursor, and deletes of what they added before
            if (n++ % 50 === 0) {
              const at = next() % 700;
              await store.batch([
                put(key(at, 'x'), enc('t')),
                put(key(699 - at, 'y'), enc('t')),
                del(key(at, 'y')),
              ]);
            }
          }
          for (const k of stable) expect(seen.has(hex(k)!)).toBe(true);
        }
      });
    });

    it('matches a sorted model on random binary keys', { timeout }, async () => {
      await withStore(async (store) => {
        const next = rng(0x5eed);
        const model = new Map<string, string>();
        for (let round = 0; round < 5; round++) {
          const ops: BatchOp[] = [];
          for (let i = 0; i < 200; i++) {
            const len = 1 + (next() % 6);
            const key = Uint8Array.from(
              { length: len },
              () => [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff][next() % 6]!,
            );
            if (next() % 4 === 0) {
              ops.push(del(key));
              model.delete(hex(key)!);
            } else {
              const value = Uint8Array.from({ length: next() % 8 }, () => next() & 0xff);
              ops.push(put(key, value));
              model.set(hex(key)!, hex(value)!);
            }
          }
          await store.batch(ops);
          const want = [...model.entries()]
            .sort(([a], [b]) => cmp(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')))
            .map(([k, v]) => `${k}=${v}`);
          expect(await collect(store.scan())).toEqual(want);
          const lo = Buffer.from([next() & 0xff]);
          const hi = Buffer.from([next() & 0xff, 0x80]);
          const ranged = want.filter((e) => {
            const k = Buffer.from(e.split('=')[0]!, 'hex');
            return Buffer.compare(k, lo) >= 0 && Buffer.compare(k, hi) < 0;
          });
          expect(await collect(store.scan({ gte: lo, lt: hi, reverse: true }))).toEqual(
            [...ranged].reverse(),
          );
        }
      });
    });

    it('rejects a batch with a bad op part-way and leaves nothing of it behind', { timeout }, async () => {
      await withStore(async (store) => {
        await store.batch([put(enc('keep'), enc('old'))]);
        const ops: BatchOp[] = [];
        for (let i = 0; i < 50; i++) ops.push(put(enc(`atomic${i}`), enc('v')));
        ops.push(put(enc('keep'), enc('new')));
        ops.push({ type: 'put', key: enc('bad'), value: 'not bytes' as unknown as Uint8Array });
        ops.push(put(enc('atomic-last'), enc('v')));
        const err = await rejection(() => store.batch(ops));
        expect(isTributaryError(err, 'TRIB_INVALID_ARGUMENT')).toBe(true);
        expect(await keysOf(store.scan({ prefix: enc('atomic') }))).toEqual([]);
        expect(hex(await store.get(enc('keep')))).toBe(hex(enc('old')));
        // other malformed input is refused the same way
        for (const bad of [
          [{ type: 'put', key: new Uint8Array(0), value: enc('v') }],
          [{ type: 'put', key: 'string-key', value: enc('v') }],
          [{ type: 'upsert', key: enc('k'), value: enc('v') }],
          [null],
        ]) {
          const e = await rejection(() => store.batch(bad as BatchOp[]));
          expect(isTributaryError(e, 'TRIB_INVALID_ARGUMENT')).toBe(true);
        }
        expect(
          isTributaryError(await rejection(() => store.get(new Uint8Array(0))), 'TRIB_INVALID_ARGUMENT'),
        ).toBe(true);
        expect(
          isTributaryError(
            await rejection(() => collect(store.scan({ limit: -1 }))),
            'TRIB_INVALID_ARGUMENT',
          ),
        ).toBe(true);
      });
    });

    it(`round-trips a ${Math.round(largeBytes / 1024 / 1024)} MiB value`, {
      timeout: Math.max(timeout, 60_000),
    }, async () => {
      await withStore(async (store) => {
        const big = new Uint8Array(largeBytes);
        const next = rng(42);
        for (let i = 0; i < big.length; i += 4096) big[i] = next() & 0xff;
        big[big.length - 1] = 0xab;
        await store.batch([put(enc('big'), big), put(enc('small'), enc('s'))]);
        const got = await store.get(enc('big'));
        expect(got?.byteLength).toBe(largeBytes);
        expect(cmp(got!, big)).toBe(0);
        const scanned: StoreEntry[] = [];
        for await (const e of store.scan()) scanned.push(e);
        expect(scanned.map((e) => e.value.byteLength)).toEqual([largeBytes, 1]);
        expect(cmp(scanned[0]!.value, big)).toBe(0);
      });
    });

    it(`applies a ${bigBatch}-key batch at once`, { timeout: Math.max(timeout, 60_000) }, async () => {
      await withStore(async (store) => {
        const key = (i: number) => enc(`big/${String(i).padStart(6, '0')}`);
        const ops: BatchOp[] = [];
        for (let i = bigBatch - 1; i >= 0; i--) ops.push(put(key(i), enc(`value-${i}`)));
        await store.batch(ops);
        let n = 0;
        let last: Uint8Array | undefined;
        for await (const e of store.scan({ prefix: enc('big/') })) {
          if (last) expect(cmp(last, e.key)).toBeLessThan(0);
          last = e.key;
          n++;
        }
        expect(n).toBe(bigBatch);
        expect(hex(await store.get(key(bigBatch - 1)))).toBe(hex(enc(`value-${bigBatch - 1}`)));
        const got = await store.getMany(
          Array.from({ length: 1000 }, (_, i) => key(i * Math.floor(bigBatch / 1000))),
        );
        expect(got.every((v) => v !== undefined)).toBe(true);
        // and deletes them all at once
        await store.batch(Array.from({ length: bigBatch }, (_, i) => del(key(i))));
        expect(await keysOf(store.scan({ prefix: enc('big/'), limit: 5 }))).toEqual([]);
      });
    });

    it('keeps every write of concurrent writers on different keys', { timeout }, async () => {
      await withStore(async (store, opened) => {
        const writers = 8;
        const perWriter = 25;
        const second = options.reopen ? await options.reopen() : undefined;
        if (second) opened.push(second);
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            const target = second && w % 2 === 1 ? second : store;
            for (let i = 0; i < perWriter; i++) {
              await target.batch([
                put(enc(`cw/${w}/${String(i).padStart(3, '0')}`), enc(`${w}:${i}`)),
                put(enc(`cw-last/${w}`), enc(String(i))),
              ]);
            }
          }),
        );
        expect(await keysOf(store.scan({ prefix: enc('cw/') }))).toHaveLength(writers * perWriter);
        const last = await store.getMany(Array.from({ length: writers }, (_, w) => enc(`cw-last/${w}`)));
        expect(last.map((v) => Buffer.from(v!).toString())).toEqual(
          Array.from({ length: writers }, () => String(perWriter - 1)),
        );
        // concurrent reads while writing see whole batches only
        const pairs = Array.from({ length: 20 }, (_, i) => [
          put(enc(`pair/${i}/a`), enc('x')),
          put(enc(`pair/${i}/b`), enc('x')),
        ]);
        const reads: Promise<void>[] = [];
        for (const ops of pairs) {
          const w = store.batch(ops);
          reads.push(
            (async () => {
              const got = await store.getMany([ops[0]!.key, ops[1]!.key]);
              expect(got[0] === undefined).toBe(got[1] === undefined);
            })(),
          );
          await w;
        }
        await Promise.all(reads);
      });
    });

    it('refuses work after close, and close is idempotent', { timeout }, async () => {
      await withStore(async (store) => {
        await store.batch([put(enc('a'), enc('1'))]);
        await store.close();
        await store.close();
        for (const f of [
          () => store.get(enc('a')),
          () => store.getMany([enc('a')]),
          () => store.batch([put(enc('b'), enc('2'))]),
          () => collect(store.scan()),
        ]) {
          expect(isTributaryError(await rejection(f), 'TRIB_STORE_CLOSED')).toBe(true);
        }
      });
    });

    if (options.reopen) {
      const reopen = options.reopen;
      it('a second instance on the same backend sees the first one’s writes', { timeout }, async () => {
        await withStore(async (store, opened) => {
          await store.batch([put(enc('shared'), enc('1'))]);
          const other = await reopen();
          opened.push(other);
          expect(hex(await other.get(enc('shared')))).toBe(hex(enc('1')));
          await other.batch([put(enc('shared'), enc('2')), put(enc('other'), enc('3'))]);
          expect(hex(await store.get(enc('shared')))).toBe(hex(enc('2')));
          expect(await keysOf(store.scan())).toEqual([hex(enc('other')), hex(enc('shared'))]);
        });
      });
    }

    if (options.durable && options.reopen) {
      const reopen = options.reopen;
      it('keeps everything across close and reopen', { timeout }, async () => {
        await withStore(async (store, opened) => {
          const ops = ORDER_KEYS.map((k, i) => put(k, bytes(i, i)));
          await store.batch(ops);
          await store.batch([del(ORDER_KEYS[0]!)]);
          await store.close();
          const again = await reopen();
          opened.push(again);
          expect(await keysOf(again.scan())).toEqual(sortedHex(ORDER_KEYS.slice(1)));
          expect(hex(await again.get(ORDER_KEYS[3]!))).toBe(hex(bytes(3, 3)));
        });
      });
    }

    it('watch (when offered) yields keys written under its prefix and ends on abort and on close', {
      timeout,
    }, async () => {
      await withStore(async (store, opened) => {
        if (!store.watch) {
          expect(store.watch).toBeUndefined();
          return;
        }
        const ac = new AbortController();
        const watched = store.watch(enc('w/'), { signal: ac.signal });
        await (watched as { ready?: Promise<void> }).ready;
        const it = watched[Symbol.asyncIterator]();
        // written by a second instance when there is one: watch must see other writers too
        const writer = options.reopen ? await options.reopen() : store;
        if (writer !== store) opened.push(writer);
        await writer.batch([put(enc('x/ignored'), enc('1')), put(enc('w/1'), enc('1'))]);
        expect(hex((await it.next()).value)).toBe(hex(enc('w/1')));
        await writer.batch([del(enc('w/1')), put(enc('w/2'), enc('2'))]);
        const seen = new Set<string>();
        while (seen.size < 2) {
          const r = await it.next();
          expect(r.done).toBe(false);
          seen.add(hex(r.value)!);
        }
        expect(seen).toEqual(new Set([hex(enc('w/1')), hex(enc('w/2'))]));
        ac.abort();
        expect((await it.next()).done).toBe(true);

        // a second watcher ends when its store closes
        const watched2 = store.watch(enc('w/'));
        await (watched2 as { ready?: Promise<void> }).ready;
        const it2 = watched2[Symbol.asyncIterator]();
        const pending = it2.next();
        await store.close();
        expect((await pending).done).toBe(true);
      });
    });

    if (options.backendDown) {
      const backendDown = options.backendDown;
      it('rejects with TRIB_STORE_UNAVAILABLE, with the cause, when the backend is down', {
        timeout,
      }, async () => {
        const store = await backendDown();
        try {
          for (const f of [
            () => store.get(enc('a')),
            () => store.getMany([enc('a')]),
            () => store.batch([put(enc('a'), enc('1'))]),
            () => collect(store.scan()),
          ]) {
            const err = await rejection(f);
            expect(isTributaryError(err, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
            expect((err as Error).cause).toBeDefined();
          }
          if (store.watch) {
            const watch = store.watch.bind(store);
            const err = await rejection(async () => {
              const watched = watch(enc('w/'));
              await (watched as { ready?: Promise<void> }).ready;
              await watched[Symbol.asyncIterator]().next();
            });
            expect(isTributaryError(err, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
          }
        } finally {
          await store.close();
        }
      });
    }
  });
}
