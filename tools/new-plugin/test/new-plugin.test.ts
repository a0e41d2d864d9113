import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePlugin, parseArgs } from '../new-plugin.mjs';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../../..');
const CLI = join(__dirname, '..', 'new-plugin.mjs');

// Generated inside the workspace (a dot folder nothing else scans), so the packages resolve
// @tributary/core exactly as a plugin under plugins/ does; removed afterwards.
const inside = join(__dirname, `.generated-${process.pid}`);
const outside = mkdtempSync(join(tmpdir(), 'new-plugin-'));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

beforeAll(() => {
  for (const kind of ['store', 'connection-factory', 'auth']) {
    generatePlugin({ kind, name: 'demo-thing', dir: join(inside, kind), root: ROOT });
  }
});

afterAll(() => {
  rmSync(inside, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('new-plugin: files and package shape', () => {
  it('writes the full layout for each kind', () => {
    const expected = (impl: string) =>
      [
        'LICENSE',
        'README.md',
        'package.json',
        `src/${impl}.ts`,
        'src/index.ts',
        'src/options.ts',
        'src/plugin.ts',
        'test/conformance.test.ts',
        'tsconfig.json',
        'tsup.config.ts',
        'vitest.config.ts',
      ].sort();
    const out = generatePlugin({ kind: 'store', name: 'x', dir: join(outside, 'x'), root: ROOT });
    expect(out.files).toEqual([...expected('x-store'), 'test/plugin.test.ts'].sort());
    expect(
      generatePlugin({ kind: 'connection', name: 'y', dir: join(outside, 'y'), root: ROOT }).files,
    ).toEqual(expected('y-factory'));
    expect(generatePlugin({ kind: 'auth', name: 'z', dir: join(outside, 'z'), root: ROOT }).files).toEqual(
      expected('z-provider'),
    );
  });

  it('makes a publishable package.json: exports map, dist only, core as a peer', () => {
    const pkg = readJson(join(inside, 'store', 'package.json'));
    expect(pkg.name).toBe('@tributary/store-demo-thing');
    expect(pkg.type).toBe('module');
    expect(pkg.files).toEqual(['dist']);
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.license).toBe('MIT');
    expect(pkg.exports['.']).toEqual({
      '@tributary/source': './src/index.ts',
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    });
    expect(pkg.exports['./package.json']).toBe('./package.json');
    // Any 0.x core, so a core minor bumps no plugin (e2e/changesets checks it).
    expect(pkg.peerDependencies).toEqual({ '@tributary/core': '^0.x' });
    expect(pkg.devDependencies['@tributary/core']).toBe('^0.1.0');
    expect(pkg.dependencies.zod).toBeDefined();
    expect(pkg.scripts).toMatchObject({ build: 'tsup', test: 'vitest run' });
    expect(pkg.nx.tags).toEqual(['layer:plugin']);
    expect(readJson(join(inside, 'store', 'tsconfig.json')).extends).toBe(
      '../../../../../tsconfig.base.json',
    );
    expect(readFileSync(join(inside, 'store', 'vitest.config.ts'), 'utf8')).toContain(
      "from '../../../../../vitest.shared.ts'",
    );
    expect(readFileSync(join(inside, 'store', 'tsup.config.ts'), 'utf8')).toContain("format: ['esm', 'cjs']");
    expect(readFileSync(join(inside, 'store', 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('defaults to plugins/<kind>-<name> and @tributary/<kind>-<name>', () => {
    const fakeRoot = mkdtempSync(join(outside, 'ws-'));
    const out = generatePlugin({ kind: 'connection-factory', name: 'quic', root: fakeRoot });
    expect(out.dir).toBe(join(fakeRoot, 'plugins', 'connection-quic'));
    expect(out.packageName).toBe('@tributary/connection-quic');
    expect(readJson(join(out.dir, 'tsconfig.json')).extends).toBe('../../tsconfig.base.json');
  });

  it('makes a standalone package outside the workspace, under the name given', () => {
    const dir = join(outside, 'acme');
    generatePlugin({
      kind: 'store',
      name: 'rocks',
      dir,
      packageName: '@acme/tributary-store-rocks',
      root: ROOT,
    });
    const pkg = readJson(join(dir, 'package.json'));
    expect(pkg.name).toBe('@acme/tributary-store-rocks');
    expect(pkg.exports['.']['@tributary/source']).toBeUndefined();
    expect(pkg.nx).toBeUndefined();
    expect(Object.keys(pkg.devDependencies)).toEqual(
      expect.arrayContaining(['tsup', 'typescript', 'vitest']),
    );
    const tsconfig = readJson(join(dir, 'tsconfig.json'));
    expect(tsconfig.extends).toBeUndefined();
    expect(tsconfig.compilerOptions.strict).toBe(true);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(
      "await registry.load('@acme/tributary-store-rocks');",
    );
  });

  it('exports plugin and plugins via definePlugin with zod options, and a conformance test per kind', () => {
    const kits = {
      store: 'runStoreConformance',
      'connection-factory': 'runConnectionFactoryConformance',
      auth: 'runAuthConformance',
    };
    for (const [kind, kit] of Object.entries(kits)) {
      const index = readFileSync(join(inside, kind, 'src', 'index.ts'), 'utf8');
      expect(index).toContain("export { plugin, plugins } from './plugin.js';");
      expect(readFileSync(join(inside, kind, 'src', 'plugin.ts'), 'utf8')).toContain(`kind: '${kind}'`);
      expect(readFileSync(join(inside, kind, 'src', 'options.ts'), 'utf8')).toContain(
        "import { z } from 'zod';",
      );
      const conf = readFileSync(join(inside, kind, 'test', 'conformance.test.ts'), 'utf8');
      expect(conf).toContain(`import { ${kit} } from '@tributary/core/conformance';`);
      expect(conf).toContain(`${kit}('demo-thing'`);
    }
  });

  it('refuses bad names, kinds, package names and non-empty folders', () => {
    expect(() => generatePlugin({ kind: 'queue', name: 'x', dir: join(outside, 'q') })).toThrow(/--kind/);
    expect(() => generatePlugin({ kind: 'store', name: 'Bad_Name', dir: join(outside, 'b') })).toThrow(
      /--name/,
    );
    expect(() =>
      generatePlugin({ kind: 'store', name: 'ok', dir: join(outside, 'p'), packageName: 'Not Valid' }),
    ).toThrow(/--package/);
    const full = join(outside, 'full');
    generatePlugin({ kind: 'store', name: 'full', dir: full });
    expect(() => generatePlugin({ kind: 'store', name: 'full', dir: full })).toThrow(/not empty/);
    writeFileSync(join(full, 'keep.txt'), 'mine');
    generatePlugin({ kind: 'store', name: 'full', dir: full, force: true });
    expect(existsSync(join(full, 'keep.txt'))).toBe(true);
  });

  it('parses arguments and fails with usage on the command line', async () => {
    expect(parseArgs(['--kind', 'store', '--name', 'foo', '--dir', '/x', '--force'])).toEqual({
      kind: 'store',
      name: 'foo',
      dir: '/x',
      force: true,
    });
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown argument/);
    const err = (await run(process.execPath, [CLI, '--kind', 'store']).catch((e) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(2);
    expect(err.stderr).toContain('--kind and --name are required');
    const ok = await run(process.execPath, [
      CLI,
      '--kind',
      'auth',
      '--name',
      'cli-made',
      '--dir',
      join(outside, 'cli'),
    ]);
    expect(ok.stdout).toContain('created @tributary/auth-cli-made');
    expect(ok.stdout).toContain(`next: cd ${join(outside, 'cli')} && npm install && npm test`);
    expect(existsSync(join(outside, 'cli', 'src', 'cli-made-provider.ts'))).toBe(true);
    // Inside a workspace the next steps are plain npm commands a newcomer can type.
    const ws = join(outside, 'ws');
    const inWs = await run(process.execPath, [
      CLI,
      ...[
        '--kind',
        'store',
        '--name',
        'ws-made',
        '--root',
        ws,
        '--dir',
        join(ws, 'plugins', 'store-ws-made'),
      ],
    ]);
    expect(inWs.stdout).toContain(
      '\nnext: npm install   (links the new workspace package)\n      npx vitest run --project store-ws-made\n',
    );
    expect(inWs.stdout).not.toContain('flock');
  });
});

describe('new-plugin: the generated code works', () => {
  const load = async (kind: string) => import(pathToFileURL(join(inside, kind, 'src', 'index.ts')).href);

  it('store: registry creates it, batches are atomic and scans are ordered', async () => {
    const { plugins } = await load('store');
    const { createRegistry, isTributaryError } = await import('@tributary/core');
    const registry = createRegistry({ plugins });
    const store = await registry.create('store', 'demo-thing', { maxKeys: 100 });
    const enc = (s: string) => new TextEncoder().encode(s);
    await store.batch([
      { type: 'put', key: enc('b'), value: enc('2') },
      { type: 'put', key: enc('a'), value: enc('1') },
      { type: 'put', key: enc('c'), value: enc('3') },
    ]);
    const keys: string[] = [];
    for await (const e of store.scan({ gte: enc('b'), reverse: true }))
      keys.push(new TextDecoder().decode(e.key));
    expect(keys).toEqual(['c', 'b']);
    const bad = await registry.create('store', 'demo-thing', { maxKeys: 0 }).catch((e: unknown) => e);
    expect(isTributaryError(bad, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
    await store.close();
  });

  it('connection factory: connects to its own listener and echoes', async () => {
    const { createDemoThingFactory } = await load('connection-factory');
    const factory = createDemoThingFactory();
    const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (c: NodeJS.ReadWriteStream) =>
      c.pipe(c),
    );
    try {
      const conn = await factory.connect(listener.address(), { timeoutMs: 5000 });
      const got = new Promise<string>((r) => conn.once('data', (d: Buffer) => r(d.toString())));
      conn.write('ping');
      expect(await got).toBe('ping');
      expect(conn.secure).toBe(false);
      conn.destroy();
    } finally {
      await listener.close();
    }
  });

  it('auth: a full exchange authenticates, a wrong password fails with TRIB_AUTH_FAILED', async () => {
    const { createDemoThingProvider } = await load('auth');
    const { exchange } = await import('@tributary/core/conformance');
    const { isTributaryError } = await import('@tributary/core');
    const provider = createDemoThingProvider();
    const [mech] = provider.mechanisms;
    expect(
      await exchange(provider, mech, { username: 'alice', password: 'pencil' }, { alice: 'pencil' }),
    ).toBe('alice');
    const err = await exchange(
      provider,
      mech,
      { username: 'alice', password: 'nope' },
      { alice: 'pencil' },
    ).catch((e) => e);
    expect(isTributaryError(err, 'TRIB_AUTH_FAILED')).toBe(true);
  });

  it('typechecks against the workspace', { timeout: 60_000 }, async () => {
    writeFileSync(
      join(inside, 'tsconfig.json'),
      JSON.stringify({ extends: '../../../../tsconfig.base.json', include: ['*/src', '*/test'] }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(inside, 'tsconfig.json'), '--noEmit']).catch(
      (e) => e,
    );
    expect(result.stdout ?? '').toBe('');
  });
});
