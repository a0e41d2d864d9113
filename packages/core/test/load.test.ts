import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, isTributaryError } from '../src/index.js';

// A third-party plugin package that lives outside the workspace, written by the test into a temp
// folder the way an application would have it installed: <app>/node_modules/<package>.
// Its manifests are built without importing @tributary/core, using the global brand symbol, which
// is exactly what makes a manifest from any copy of core acceptable to this registry.
let app: string;

const manifestJs = (name: string, apiVersion = 1) => `{
  kind: 'store',
  name: ${JSON.stringify(name)},
  apiVersion: ${apiVersion},
  parseOptions(input) {
    const o = input ?? {};
    if (o.prefix !== undefined && typeof o.prefix !== 'string') {
      throw Object.assign(new Error('prefix must be a string'), { field: 'prefix' });
    }
    return { prefix: o.prefix ?? '' };
  },
  create(options) {
    const map = new Map();
    const k = (key) => options.prefix + Buffer.from(key).toString('hex');
    return {
      name: ${JSON.stringify(name)},
      async get(key) { return map.get(k(key)); },
      async getMany(keys) { return keys.map((key) => map.get(k(key))); },
      async batch(ops) { for (const op of ops) op.type === 'put' ? map.set(k(op.key), op.value) : map.delete(k(op.key)); },
      async *scan() {},
      async close() {},
    };
  },
  [Symbol.for('@tributary/plugin')]: true,
}`;

async function writePackage(name: string, files: Record<string, string>, pkg: Record<string, unknown> = {}) {
  const dir = join(app, 'node_modules', name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', type: 'module', ...pkg }),
  );
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), 'tributary-load-'));
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'some-app', private: true }));
  await writePackage(
    '@acme/tributary-stores',
    { 'index.mjs': `export const plugins = [${manifestJs('acme-a')}, ${manifestJs('acme-b')}];\n` },
    { exports: { '.': './index.mjs' } },
  );
  await writePackage(
    'acme-single',
    { 'main.mjs': `export const plugin = ${manifestJs('acme-single')};\n` },
    { exports: { '.': { import: './main.mjs' } } },
  );
  await writePackage(
    'acme-default-only',
    { 'index.mjs': `export default [${manifestJs('d')}];\n` },
    { exports: './index.mjs' },
  );
  await writePackage(
    'acme-future',
    { 'index.mjs': `export const plugins = [${manifestJs('future', 9)}];\n` },
    { exports: './index.mjs' },
  );
  await writePackage(
    'acme-broken',
    { 'index.mjs': `throw new Error('boom at import');\n` },
    { exports: './index.mjs' },
  );
});

afterAll(async () => {
  if (app) await rm(app, { recursive: true, force: true });
});

describe('registry.load', () => {
  it('imports a package from outside the workspace and registers every manifest in `plugins`', async () => {
    const r = createRegistry();
    const loaded = await r.load('@acme/tributary-stores', { from: app });
    expect(loaded.map((m) => m.name)).toEqual(['acme-a', 'acme-b']);
    expect(r.list('store').map((m) => m.name)).toEqual(['acme-a', 'acme-b']);
    const store = await r.create('store', 'acme-b', { prefix: 'p:' });
    await store.batch([{ type: 'put', key: new Uint8Array([1]), value: new Uint8Array([42]) }]);
    expect(await store.get(new Uint8Array([1]))).toEqual(new Uint8Array([42]));
  });

  it('accepts a single named `plugin` export from an import-only package', async () => {
    const r = createRegistry();
    await r.load('acme-single', { from: join(app, 'package.json') });
    expect(r.get('store', 'acme-single').name).toBe('acme-single');
  });

  it('refuses a package with only a default export', async () => {
    const err = await createRegistry()
      .load('acme-default-only', { from: app })
      .catch((e: unknown) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_LOAD')).toBe(true);
    expect((err as Error).message).toContain('"plugins"');
  });

  it('fails with TRIB_PLUGIN_LOAD for a missing package and for one that throws on import', async () => {
    const missing = await createRegistry()
      .load('@acme/not-installed', { from: app })
      .catch((e: unknown) => e);
    expect(isTributaryError(missing, 'TRIB_PLUGIN_LOAD')).toBe(true);
    expect((missing as Error).message).toContain('@acme/not-installed');
    const broken = await createRegistry()
      .load('acme-broken', { from: app })
      .catch((e: unknown) => e);
    expect(isTributaryError(broken, 'TRIB_PLUGIN_LOAD')).toBe(true);
    expect(((broken as Error).cause as Error).message).toBe('boom at import');
  });

  it('applies the apiVersion check to loaded manifests', async () => {
    const r = createRegistry();
    const err = await r.load('acme-future', { from: app }).catch((e: unknown) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_API_VERSION')).toBe(true);
    expect(r.list('store')).toEqual([]);
  });

  it('refuses to load the same package twice (duplicate names)', async () => {
    const r = createRegistry();
    await r.load('@acme/tributary-stores', { from: app });
    const err = await r.load('@acme/tributary-stores', { from: app }).catch((e: unknown) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_DUPLICATE')).toBe(true);
  });
});
