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
});
