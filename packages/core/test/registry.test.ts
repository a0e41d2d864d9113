import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createRegistry,
  definePlugin,
  isPluginManifest,
  isTributaryError,
  optionsParser,
  PLUGIN_BRAND,
  type PluginContext,
  type Store,
} from '../src/index.js';

function fakeStore(name: string): Store {
  return {
    name,
    get: async () => undefined,
    getMany: async (keys) => keys.map(() => undefined),
    batch: async () => {},
    scan: async function* () {},
    close: async () => {},
  };
}

const sizedOptions = z.object({
  size: z.number().int().positive(),
  nested: z.object({ path: z.string().min(1) }).default({ path: '/tmp' }),
});

const sized = definePlugin({
  kind: 'store',
  name: 'sized',
  apiVersion: 1,
  parseOptions: optionsParser('sized', sizedOptions),
  create: (o: z.output<typeof sizedOptions>, ctx) =>
    Object.assign(fakeStore(`sized-${o.size}`), { options: o, ctx }),
});

const other = definePlugin({
  kind: 'store',
  name: 'other',
  apiVersion: 1,
  parseOptions: optionsParser('other', z.object({})),
  create: () => fakeStore('other'),
});

const tcpish = definePlugin({
  kind: 'connection-factory',
  name: 'tcpish',
  apiVersion: 1,
  parseOptions: optionsParser('tcpish', z.object({ noDelay: z.boolean().default(true) })),
  create: () => ({ name: 'tcpish' }) as never,
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return isTributaryError(err) ? err.code : `not a TributaryError: ${String(err)}`;
  }
  return undefined;
}

describe('definePlugin', () => {
  it('brands and freezes the manifest', () => {
    expect(isPluginManifest(sized)).toBe(true);
    expect(sized[PLUGIN_BRAND]).toBe(true);
    expect(Object.isFrozen(sized)).toBe(true);
    expect(isPluginManifest({ kind: 'store', name: 'x', apiVersion: 1 })).toBe(false);
    expect(isPluginManifest(null)).toBe(false);
  });
});

describe('registry', () => {
  it('registers, gets and lists by kind', () => {
    const r = createRegistry();
    r.register(sized);
    r.register(other);
    r.register(tcpish);
    expect(r.get('store', 'sized')).toBe(sized);
    expect(r.has('store', 'other')).toBe(true);
    expect(r.has('auth', 'other')).toBe(false);
    expect(r.list('store').map((m) => m.name)).toEqual(['sized', 'other']);
    expect(r.list('connection-factory').map((m) => m.name)).toEqual(['tcpish']);
    expect(r.list('auth')).toEqual([]);
    expect(r.list().map((m) => `${m.kind}/${m.name}`)).toEqual([
      'connection-factory/tcpish',
      'store/sized',
      'store/other',
    ]);
  });

  it('accepts manifests at construction', () => {
    const r = createRegistry({ plugins: [sized, tcpish] });
    expect(r.list().length).toBe(2);
  });

  it('creates an instance with parsed, frozen options and an injected context', async () => {
    const r = createRegistry({ plugins: [sized] });
    const signal = new AbortController().signal;
    const store = (await r.create('store', 'sized', { size: 3 }, { signal })) as Store & {
      options: { size: number; nested: { path: string } };
      ctx: PluginContext;
    };
    expect(store.name).toBe('sized-3');
    expect(store.options).toEqual({ size: 3, nested: { path: '/tmp' } });
    expect(Object.isFrozen(store.options)).toBe(true);
    expect(store.ctx.registry).toBe(r);
    expect(store.ctx.signal).toBe(signal);
    expect(typeof store.ctx.logger.info).toBe('function');
    // The default metrics scope still counts, so a plugin's stats work without a registry.
    const c = store.ctx.metrics.counter('opened');
    c.inc(2);
    expect(c.value).toBe(2);
  });

  it('refuses a duplicate name within a kind, but allows the same name in another kind', async () => {
    const r = createRegistry({ plugins: [sized] });
    expect(await codeOf(() => r.register(sized))).toBe('TRIB_PLUGIN_DUPLICATE');
    const sameNameOtherKind = definePlugin({ ...tcpish, name: 'sized' });
    r.register(sameNameOtherKind);
    expect(r.get('connection-factory', 'sized')).toBe(sameNameOtherKind);
  });

  it('reports an unknown plugin with the registered names', async () => {
    const r = createRegistry({ plugins: [sized, other] });
    let err: unknown;
    try {
      r.get('store', 'nope');
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_PLUGIN_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('"nope"');
    expect((err as Error).message).toContain('sized, other');
    expect(await codeOf(r.create('auth', 'nope', {}))).toBe('TRIB_PLUGIN_NOT_FOUND');
    expect(await codeOf(() => r.get('auth', 'nope'))).toBe('TRIB_PLUGIN_NOT_FOUND');
  });

  it('refuses an unsupported apiVersion naming plugin, found and supported versions', () => {
    const r = createRegistry();
    const future = definePlugin({ ...other, name: 'future', apiVersion: 2 });
    let err: unknown;
    try {
      r.register(future);
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_PLUGIN_API_VERSION')).toBe(true);
    expect((err as Error).message).toMatch(/"future".*apiVersion 2.*supports 1/);
    expect((err as { details: unknown }).details).toEqual({ plugin: 'future', found: 2, supported: [1] });
    expect(r.has('store', 'future')).toBe(false);
  });

  it('refuses things that are not manifests, and unknown kinds', async () => {
    const r = createRegistry();
    expect(await codeOf(() => r.register({ kind: 'store', name: 'x', apiVersion: 1 } as never))).toBe(
      'TRIB_PLUGIN_INVALID',
    );
    expect(await codeOf(() => r.register(null as never))).toBe('TRIB_PLUGIN_INVALID');
    expect(await codeOf(() => r.register(definePlugin({ ...other, name: '' })))).toBe('TRIB_PLUGIN_INVALID');
    expect(await codeOf(() => r.register(definePlugin({ ...other, create: undefined as never })))).toBe(
      'TRIB_PLUGIN_INVALID',
    );
    expect(await codeOf(() => r.register(definePlugin({ ...other, kind: 'queue' } as never)))).toBe(
      'TRIB_PLUGIN_KIND',
    );
    expect(await codeOf(() => r.list('queue' as never))).toBe('TRIB_PLUGIN_KIND');
  });

  it('names the bad option field (nested paths too) and does not call create', async () => {
    let created = 0;
    const counted = definePlugin({
      kind: 'store',
      apiVersion: 1,
      name: 'counted',
      parseOptions: optionsParser('counted', sizedOptions),
      create: (o: z.output<typeof sizedOptions>, ctx) => {
        created++;
        return sized.create(o, ctx);
      },
    });
    const r = createRegistry({ plugins: [counted] });
    const cases: [unknown, string][] = [
      [{ size: -1 }, '"size"'],
      [{ size: 'big' }, '"size"'],
      [{}, '"size"'],
      [{ size: 1, nested: { path: '' } }, '"nested.path"'],
    ];
    for (const [input, field] of cases) {
      const err = await r.create('store', 'counted', input).catch((e: unknown) => e);
      expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
      expect((err as Error).message).toContain(field);
      expect((err as Error).message).toContain('"counted"');
      expect(((err as { details: { issues: unknown[] } }).details.issues ?? []).length).toBeGreaterThan(0);
    }
    expect(created).toBe(0);
  });

  it('treats missing options as an empty object', async () => {
    const r = createRegistry({ plugins: [other] });
    expect((await r.create('store', 'other')).name).toBe('other');
  });
});

describe('optionsParser', () => {
  it('names (root) when the whole input is wrong and keeps defaults', () => {
    const parse = optionsParser('p', z.object({ a: z.number().default(1) }));
    expect(parse(undefined)).toEqual({ a: 1 });
    let err: unknown;
    try {
      parse('not an object');
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
    expect((err as Error).message).toContain('at "(root)"');
  });
});
