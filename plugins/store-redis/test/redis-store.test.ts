import { randomUUID } from 'node:crypto';
import { startChaosProxy } from '@tributary/chaos-proxy';
import { createRegistry, isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createRedisStore,
  DEFAULT_REDIS_URL,
  decodeKeyList,
  encodeKeyList,
  plugin,
  plugins,
} from '../src/index.js';

const url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const b = (s: string) => Buffer.from(s);

async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(url);
  try {
    await r.del(`${prefix}idx`, `${prefix}val`);
  } finally {
    await r.quit();
  }
}

describe('store-redis', () => {
  it('registers as the "redis" store plugin and validates options', async () => {
    const prefix = `trib-test:${randomUUID()}:`;
    const registry = createRegistry();
    registry.register(plugin);
    expect(plugins).toContain(plugin);
    const store = await registry.create('store', 'redis', { url, prefix });
    try {
      expect(store.name).toBe('redis');
      await store.batch([{ type: 'put', key: b('a'), value: b('1') }]);
      expect(Buffer.from((await store.get(b('a')))!).toString()).toBe('1');
    } finally {
      await store.close();
      await dropPrefix(prefix);
    }
    let err: unknown;
    try {
      await registry.create('store', 'redis', { url: 'not a url' });
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
  });

  it('stores with different prefixes share one Redis without seeing each other', async () => {
    const p1 = `trib-test:${randomUUID()}:`;
    const p2 = `trib-test:${randomUUID()}:`;
    const s1 = createRedisStore({ url, prefix: p1 });
    const s2 = createRedisStore({ url, prefix: p2 });
    try {
      const ac = new AbortController();
      const w2 = s2.watch(b(''), { signal: ac.signal });
      await w2.ready;
      const it2 = w2[Symbol.asyncIterator]();
      const next = it2.next();
      await s1.batch([{ type: 'put', key: b('only-in-1'), value: b('1') }]);
      await s2.batch([{ type: 'put', key: b('only-in-2'), value: b('2') }]);
      // the first key s2's watcher sees is its own, not s1's
      expect(Buffer.from((await next).value).toString()).toBe('only-in-2');
      ac.abort();
      expect(await s2.get(b('only-in-1'))).toBeUndefined();
      const keys: string[] = [];
      for await (const e of s1.scan()) keys.push(Buffer.from(e.key).toString());
      expect(keys).toEqual(['only-in-1']);
    } finally {
      await s1.close();
      await s2.close();
      await dropPrefix(p1);
      await dropPrefix(p2);
    }
  });

  it('watchers end with TRIB_STORE_UNAVAILABLE when the subscription connection is killed', async () => {
    const prefix = `trib-test:${randomUUID()}:`;
    const connectionName = `trib-test-${randomUUID().slice(0, 8)}`;
    const store = createRedisStore({ url, prefix, redisOptions: { connectionName } });
    const admin = new Redis(url);
    try {
      const watched = store.watch(b('k'));
      await watched.ready;
      const it = watched[Symbol.asyncIterator]();
      // settle into a value at once so the rejection is never momentarily unhandled
      const pending = it.next().then(
        () => undefined,
        (e: unknown) => e,
      );
      const list = (await admin.call('CLIENT', 'LIST')) as string;
      const ids = list
        .split('\n')
        .filter((line) => line.includes(`name=${connectionName}`) && /\bsub=[1-9]/.test(line))
        .map((line) => /\bid=(\d+)/.exec(line)![1]!);
      expect(ids).toHaveLength(1);
      await admin.call('CLIENT', 'KILL', 'ID', ids[0]!);
      const err = await pending;
      expect(isTributaryError(err, 'TRIB_STORE_UNAVAILABLE')).toBe(true);
      // a new watch subscribes again and works
      const again = store.watch(b('k'));
      await again.ready;
      const it2 = again[Symbol.asyncIterator]();
      await store.batch([{ type: 'put', key: b('k1'), value: b('v') }]);
      expect(Buffer.from((await it2.next()).value).toString()).toBe('k1');
    } finally {
      await store.close();
      await admin.quit();
      await dropPrefix(prefix);
    }
  });

  it('the watch key list round-trips any keys (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 1978 }), { maxLength: 20 }), (keys) => {
        const decoded = decodeKeyList(encodeKeyList(keys.map((k) => Buffer.from(k))));
        expect(decoded.map((k) => k.toString('hex'))).toEqual(
          keys.map((k) => Buffer.from(k).toString('hex')),
        );
      }),
    );
    // truncated input yields the whole keys only, never garbage
    expect(decodeKeyList(encodeKeyList([b('abc'), b('de')]).subarray(0, 6)).map(String)).toEqual(['abc']);
  });

  it('pages by row count and by value bytes, forward and reverse, with limits', async () => {
    const prefix = `trib-test:${randomUUID()}:`;
    const store = createRedisStore({ url, prefix, scanPageBytes: 64, scanPageSize: 7 });
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
      await dropPrefix(prefix);
    }
  });
});

describe('store-redis batches', () => {
  it('one batch of 2,500 deletes and 2,500 puts: last op per key wins, one PUBLISH of every key', {
    timeout: 30_000,
  }, async () => {
    const prefix = `trib-test:${randomUUID()}:`;
    const store = createRedisStore({ url, prefix });
    const sub = new Redis(url);
    try {
      const key = (i: number) => Buffer.concat([b('k'), Buffer.from([i >> 8, i & 0xff, 0x00, 0xff])]);
      await store.batch(
        Array.from({ length: 2500 }, (_, i) => ({ type: 'put' as const, key: key(i), value: b(`old${i}`) })),
      );
      const messages: Buffer[] = [];
      sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => messages.push(message));
      await sub.subscribe(store.redisKeys.channel);
      const ops = [
        // delete the first 2,500 keys, put 2,500 new ones, and put-then-delete / delete-then-put
        ...Array.from({ length: 2500 }, (_, i) => ({ type: 'del' as const, key: key(i) })),
        ...Array.from({ length: 2500 }, (_, i) => ({
          type: 'put' as const,
          key: key(2500 + i),
          value: b(`new${i}`),
        })),
        { type: 'put' as const, key: key(5000), value: b('gone') },
        { type: 'del' as const, key: key(5000) },
        { type: 'put' as const, key: key(7), value: b('back') },
      ];
      await store.batch(ops);
      let rows = 0;
      for await (const e of store.scan()) {
        const i = (e.key[1]! << 8) | e.key[2]!;
        expect(Buffer.from(e.value).toString()).toBe(i === 7 ? 'back' : `new${i - 2500}`);
        rows++;
      }
      expect(rows).toBe(2501);
      expect(await store.get(key(5000))).toBeUndefined();
      await new Promise<void>((resolve) => {
        const check = () => (messages.length > 0 ? resolve() : setImmediate(check));
        check();
      });
      expect(messages.length).toBe(1);
      expect(messages[0]!.equals(encodeKeyList(ops.map((o) => o.key)))).toBe(true);
    } finally {
      sub.disconnect();
      await store.close();
      await dropPrefix(prefix);
    }
  });
});

describe('store-redis outages', () => {
  it('rejects with TRIB_STORE_UNAVAILABLE while Redis is cut off or silent, and recovers after', {
    timeout: 30_000,
  }, async () => {
    const target = new URL(url);
    const proxy = await startChaosProxy({
      target: { host: target.hostname, port: Number(target.port || 6379) },
    });
    const prefix = `trib-test:${randomUUID()}:`;
    const store = createRedisStore({
      url: `redis://127.0.0.1:${proxy.address().port}`,
      prefix,
      commandTimeoutMs: 500,
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
      // connections reset and new ones refused: fails fast, with the cause
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
      // a silent network path: the command timeout turns a hang into TRIB_STORE_UNAVAILABLE
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
      await dropPrefix(prefix);
    }
  });
});
