import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRegistry, isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { plugin, plugins } from '../src/index.js';

describe('store-lmdb', () => {
  it('registers as the "lmdb" store plugin and validates options', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-lmdb-plugin-'));
    try {
      const registry = createRegistry();
      registry.register(plugin);
      expect(plugins).toContain(plugin);
      const store = await registry.create('store', 'lmdb', { path: dir });
      expect(store.name).toBe('lmdb');
      await store.batch([{ type: 'put', key: Buffer.from('a'), value: Buffer.from('1') }]);
      expect(Buffer.from((await store.get(Buffer.from('a')))!).toString()).toBe('1');
      await store.close();
      let err: unknown;
      try {
        await registry.create('store', 'lmdb', {});
      } catch (e) {
        err = e;
      }
      expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses keys LMDB cannot hold with TRIB_INVALID_ARGUMENT before writing anything', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-lmdb-key-'));
    const { createLmdbStore } = await import('../src/index.js');
    const store = createLmdbStore({ path: dir });
    try {
      await store.batch([{ type: 'put', key: Buffer.alloc(1978, 1), value: Buffer.from('max') }]);
      expect(Buffer.from((await store.get(Buffer.alloc(1978, 1)))!).toString()).toBe('max');
      let err: unknown;
      try {
        await store.batch([
          { type: 'put', key: Buffer.from('ok'), value: Buffer.from('1') },
          { type: 'put', key: Buffer.alloc(1979, 1), value: Buffer.from('too long') },
        ]);
      } catch (e) {
        err = e;
      }
      expect(isTributaryError(err, 'TRIB_INVALID_ARGUMENT')).toBe(true);
      expect(await store.get(Buffer.from('ok'))).toBeUndefined();
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("returns values that are the caller's own: no two reads share bytes, and writing to one changes nothing stored", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trib-lmdb-copy-'));
    const { createLmdbStore } = await import('../src/index.js');
    // small pages so the scan crosses several read transactions; sizes around LMDB's shared read
    // buffer and past it (values up to 64 KiB), and empty ones
    const store = createLmdbStore({ path: dir, scanPageSize: 7 });
    try {
      const value = (i: number) => Buffer.alloc([0, 1, 100, 5000, 65_536][i % 5]!, i % 251);
      const key = (i: number) => Buffer.from(`k${String(i).padStart(4, '0')}`);
      await store.batch(
        Array.from({ length: 60 }, (_, i) => ({ type: 'put' as const, key: key(i), value: value(i) })),
      );
      const rows: { key: Uint8Array; value: Uint8Array }[] = [];
      for await (const e of store.scan()) rows.push(e);
      const got = [...(await store.getMany(rows.map((r) => r.key))), await store.get(key(3))];
      // checked only after every read: a value aliasing LMDB's shared buffer would have changed
      expect(rows.length).toBe(60);
      rows.forEach((r, i) => {
        expect(Buffer.from(r.key).equals(key(i))).toBe(true);
        expect(Buffer.from(r.value).equals(value(i))).toBe(true);
        expect(Buffer.from(got[i]!).equals(value(i))).toBe(true);
      });
      expect(Buffer.from(got[60]!).equals(value(3))).toBe(true);
      for (const r of rows) r.value.fill(0xee);
      got[3]!.fill(0xee);
      for (let i = 0; i < 60; i++)
        expect(Buffer.from((await store.get(key(i)))!).equals(value(i))).toBe(true);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
