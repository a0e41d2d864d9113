#!/usr/bin/env node
// Creates a Tributary plugin package with the right shape (npm run new-plugin -- --kind store --name foo).
// Inside the workspace it lands in plugins/<kind>-<name> as @tributary/<kind>-<name>; with --dir
// anywhere else it makes a standalone package for a third party (name it with --package).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const KINDS = { store: 'store', 'connection-factory': 'connection', connection: 'connection', auth: 'auth' };
const WORKSPACE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const USAGE = `Usage: npm run new-plugin -- --kind <store|connection-factory|auth> --name <name> [--dir <path>] [--package <npm name>] [--force]

Creates a plugin package: package.json (exports map, tsup build), tsconfig, vitest config,
src/{index,options,plugin,<impl>}.ts exporting \`plugin\` and \`plugins\` made by definePlugin with
zod options, test/conformance.test.ts running the conformance kit, README and LICENSE.

  --kind      store | connection-factory (or connection) | auth
  --name      lowercase, digits and dashes (e.g. "rocks", "quic")
  --dir       target folder (default: plugins/<kind>-<name> in this workspace)
  --package   npm package name (default: @tributary/<kind>-<name>)
  --force     write into a non-empty folder`;

const pascal = (s) => s.replace(/(^|-)([a-z0-9])/g, (_, __, c) => c.toUpperCase());
const camel = (s) => pascal(s).replace(/^./, (c) => c.toLowerCase());
const posix = (p) => p.split(sep).join('/');

export function parseArgs(argv) {
  const out = { force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') out.force = true;
    else if (a === '--help' || a === '-h') out.help = true;
    else if (['--kind', '--name', '--dir', '--package', '--root'].includes(a)) {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      out[a.slice(2)] = argv[++i];
    } else throw new Error(`unknown argument "${a}"`);
  }
  return out;
}

/**
 * Writes the package and returns `{ dir, packageName, files, inWorkspace }` (paths relative to dir).
 * @param {{ kind: string, name: string, dir?: string, packageName?: string, root?: string, force?: boolean }} options
 * @returns {{ dir: string, packageName: string, files: string[], inWorkspace: boolean }}
 */
export function generatePlugin({ kind, name, dir, packageName, root = WORKSPACE_ROOT, force = false }) {
  if (!KINDS[kind]) throw new Error(`--kind must be store, connection-factory or auth (got "${kind}")`);
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name ?? '')) {
    throw new Error(`--name must be lowercase letters, digits and single dashes (got "${name}")`);
  }
  const canonicalKind = kind === 'connection' ? 'connection-factory' : kind;
  const folder = `${KINDS[kind]}-${name}`;
  const target = resolve(dir ?? join(root, 'plugins', folder));
  if (existsSync(target) && readdirSync(target).length > 0 && !force) {
    throw new Error(`${target} exists and is not empty (use --force to write into it)`);
  }
  const inWorkspace = target.startsWith(resolve(root) + sep);
  const pkgName = packageName ?? `@tributary/${folder}`;
  if (!/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/.test(pkgName)) {
    throw new Error(`--package is not a valid npm name: "${pkgName}"`);
  }
  const ctx = {
    kind: canonicalKind,
    name,
    folder,
    pkgName,
    inWorkspace,
    Name: pascal(name),
    nameCamel: camel(name),
    toRoot: inWorkspace ? posix(relative(target, root)) : undefined,
  };
  const files = {
    ...common(ctx),
    ...(canonicalKind === 'store' ? store(ctx) : canonicalKind === 'auth' ? auth(ctx) : connection(ctx)),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(target, path)), { recursive: true });
    writeFileSync(join(target, path), text);
  }
  return { dir: target, packageName: pkgName, files: Object.keys(files).sort(), inWorkspace };
}

function json(value) {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function common(c) {
  const entry = { types: './dist/index.d.ts', default: './dist/index.js' };
  const packageJson = {
    name: c.pkgName,
    version: '0.1.0',
    description: `Tributary ${c.kind} plugin "${c.name}"`,
    license: 'MIT',
    type: 'module',
    sideEffects: false,
    engines: { node: '>=20.15' },
    files: ['dist'],
    main: './dist/index.cjs',
    module: './dist/index.js',
    types: './dist/index.d.ts',
    exports: {
      '.': {
        ...(c.inWorkspace ? { '@tributary/source': './src/index.ts' } : {}),
        import: entry,
        require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
      },
      './package.json': './package.json',
    },
    keywords: ['tributary', 'tributary-plugin', `tributary-${c.kind}`],
    publishConfig: { access: 'public' },
    scripts: {
      build: 'tsup',
      typecheck: 'tsc -p tsconfig.json --noEmit',
      ...(c.inWorkspace ? { lint: 'biome check src test' } : {}),
      test: 'vitest run',
    },
    dependencies: { zod: '^3.25.0' },
    // Any 0.x core: a core minor stays in range, so changesets bumps no plugin for it; a core
    // 1.0 does not (apiVersion is checked again at register time).
    peerDependencies: { '@tributary/core': '^0.x' },
    devDependencies: {
      '@tributary/core': '^0.1.0',
      ...(c.inWorkspace
        ? {}
        : { tsup: '~8.5.0', typescript: '~5.9.3', vitest: '~4.1.12', '@types/node': '^20.19.0' }),
    },
    ...(c.inWorkspace ? { nx: { tags: ['layer:plugin'] } } : {}),
  };
  const tsconfig = c.inWorkspace
    ? { extends: `${c.toRoot}/tsconfig.base.json`, include: ['src', 'test', '*.ts'] }
    : {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022', 'ESNext.Disposable'],
          module: 'ESNext',
          moduleResolution: 'bundler',
          types: ['node'],
          strict: true,
          isolatedModules: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          noEmit: true,
        },
        include: ['src', 'test', '*.ts'],
      };
  const vitestConfig = c.inWorkspace
    ? `import { defineProject } from 'vitest/config';
import { sourceConditions } from '${c.toRoot}/vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  test: { setupFiles: ['${c.toRoot}/vitest.fast-check.ts'], name: '${c.folder}', include: ['test/**/*.test.ts'] },
});
`
    : `import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['test/**/*.test.ts'] } });
`;
  return {
    'package.json': json(packageJson),
    'tsconfig.json': json(tsconfig),
    'tsup.config.ts': `import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  sourcemap: true,
  clean: true,
  splitting: false,
  external: [/^@tributary\\//],
});
`,
    'vitest.config.ts': vitestConfig,
    LICENSE: mit(),
    'src/plugin.ts': pluginTs(c),
  };
}

function mit() {
  return `MIT License

Copyright (c) ${new Date().getUTCFullYear()} the authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;
}

function implNames(c) {
  if (c.kind === 'store')
    return {
      file: `${c.name}-store`,
      cls: `${c.Name}Store`,
      create: `create${c.Name}Store`,
      opts: `${c.Name}StoreOptions`,
    };
  if (c.kind === 'auth')
    return {
      file: `${c.name}-provider`,
      cls: `${c.Name}Provider`,
      create: `create${c.Name}Provider`,
      opts: `${c.Name}ProviderOptions`,
    };
  return {
    file: `${c.name}-factory`,
    cls: `${c.Name}Factory`,
    create: `create${c.Name}Factory`,
    opts: `${c.Name}FactoryOptions`,
  };
}

function pluginTs(c) {
  const n = implNames(c);
  return `import { definePlugin } from '@tributary/core';
import { ${n.cls} } from './${n.file}.js';
import { parse${n.opts} } from './options.js';

/** The manifest the registry loads: \`registry.create('${c.kind}', '${c.name}', options)\`. */
export const plugin = definePlugin({
  kind: '${c.kind}',
  name: '${c.name}',
  apiVersion: 1,
  parseOptions: parse${n.opts},
  create: (options, ctx) => new ${n.cls}(options, { logger: ctx.logger, metrics: ctx.metrics }),
});

/** Every manifest in this package (what \`registry.load('${c.pkgName}')\` registers). */
export const plugins = [plugin];
`;
}

function indexTs(c, extra = '') {
  const n = implNames(c);
  return `export { ${n.cls}, ${n.create} } from './${n.file}.js';
export { parse${n.opts}, ${c.nameCamel}OptionsSchema, type ${n.opts} } from './options.js';
export { plugin, plugins } from './plugin.js';
${extra}`;
}

function readme(c, example, kit) {
  const n = implNames(c);
  return `# ${c.pkgName}

A Tributary \`${c.kind}\` plugin named \`${c.name}\`, generated by \`npm run new-plugin\`.
Replace this paragraph with what it does today.

## Use

\`\`\`ts
import { createRegistry } from '@tributary/core';

const registry = createRegistry();
await registry.load('${c.pkgName}');
${example}
\`\`\`

Or without the registry: \`import { ${n.create} } from '${c.pkgName}'\`.

## Options

Validated by the zod schema in \`src/options.ts\`; a bad option fails with \`TRIB_PLUGIN_OPTIONS\`
naming the field.

## Develop

\`\`\`sh
npm test          # runs ${kit} from @tributary/core/conformance
npm run build     # tsup: ESM + CJS + .d.ts in dist/
\`\`\`
`;
}

function store(c) {
  const n = implNames(c);
  return {
    'src/options.ts': `import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const ${c.nameCamel}OptionsSchema = z
  .object({
    /** Refuse batches that would grow the store beyond this many keys. */
    maxKeys: z.number().int().positive().default(10_000_000),
  })
  .strict();

export type ${n.opts} = z.output<typeof ${c.nameCamel}OptionsSchema>;

export const parse${n.opts} = optionsParser('${c.name}', ${c.nameCamel}OptionsSchema);
`,
    [`src/${n.file}.ts`]: `import {
  type BatchOp,
  componentLogger,
  ErrInvalidArgument,
  ErrStoreClosed,
  type Logger,
  type MetricsScope,
  nullMetrics,
  type ScanOptions,
  type Store,
  type StoreEntry,
} from '@tributary/core';
import { parse${n.opts}, type ${n.opts} } from './options.js';

const compare = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);

function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length === 0) throw ErrInvalidArgument('key', 'must be a non-empty Uint8Array');
}

/** First index whose key is >= \`key\` in the sorted array. */
function lowerBound(keys: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The smallest key greater than every key starting with \`prefix\` (undefined: no upper bound). */
function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

/**
 * An ordered in-memory store: a sorted key array beside a map. Start here and replace the
 * storage with your backend; keep the contract (bytewise order, atomic batches, copies out).
 */
export class ${n.cls} implements Store {
  readonly name = '${c.name}';
  readonly #options: ${n.opts};
  readonly #log: Logger;
  readonly #writes;
  #keys: Uint8Array[] = [];
  readonly #values = new Map<string, Uint8Array>();
  #closed = false;

  constructor(options: ${n.opts}, deps: { logger?: Logger; metrics?: MetricsScope } = {}) {
    this.#options = options;
    this.#log = componentLogger(deps.logger, 'store-${c.name}');
    this.#writes = (deps.metrics ?? nullMetrics()).counter('writes', 'Keys put or deleted');
  }

  #open(): void {
    if (this.#closed) throw ErrStoreClosed(this.name);
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#open();
    checkKey(key);
    const v = this.#values.get(Buffer.from(key).toString('hex'));
    return v && Uint8Array.from(v);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#open();
    // Validate everything first, then apply synchronously: all or nothing.
    if (!Array.isArray(ops)) throw ErrInvalidArgument('ops', 'must be an array');
    let growth = 0;
    for (const op of ops) {
      if (op === null || typeof op !== 'object') throw ErrInvalidArgument('op', 'must be an object');
      if (op.type !== 'put' && op.type !== 'del') throw ErrInvalidArgument('op.type', 'must be "put" or "del"');
      checkKey(op.key);
      if (op.type === 'put' && !(op.value instanceof Uint8Array)) throw ErrInvalidArgument('value', 'must be a Uint8Array');
      if (op.type === 'put') growth++;
    }
    if (this.#values.size + growth > this.#options.maxKeys && growth > 0) {
      throw ErrInvalidArgument('batch', \`would exceed maxKeys (\${this.#options.maxKeys})\`);
    }
    for (const op of ops) {
      const id = Buffer.from(op.key).toString('hex');
      const at = lowerBound(this.#keys, op.key);
      const present = at < this.#keys.length && compare(this.#keys[at]!, op.key) === 0;
      if (op.type === 'put') {
        if (!present) this.#keys.splice(at, 0, Uint8Array.from(op.key));
        this.#values.set(id, Uint8Array.from(op.value));
      } else if (present) {
        this.#keys.splice(at, 1);
        this.#values.delete(id);
      }
    }
    this.#writes.inc(ops.length);
    if (this.#log.isLevelEnabled('trace')) this.#log.trace({ ops: ops.length }, 'batch');
  }

  async *scan(options: ScanOptions = {}): AsyncIterable<StoreEntry> {
    this.#open();
    if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 0)) {
      throw ErrInvalidArgument('limit', 'must be a non-negative integer');
    }
    let lo = options.gte;
    let hi = options.lt;
    if (options.prefix) {
      if (!lo || compare(options.prefix, lo) > 0) lo = options.prefix;
      const end = prefixEnd(options.prefix);
      if (end && (!hi || compare(end, hi) < 0)) hi = end;
    }
    const keys = this.#keys; // batches replace entries in place; copy the range we walk
    const start = lo ? lowerBound(keys, lo) : 0;
    const stop = hi ? lowerBound(keys, hi) : keys.length;
    const range = keys.slice(start, Math.max(start, stop));
    if (options.reverse) range.reverse();
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    let n = 0;
    for (const key of range) {
      if (n >= limit) return;
      this.#open();
      const value = this.#values.get(Buffer.from(key).toString('hex'));
      if (value === undefined) continue; // deleted while we iterated
      n++;
      yield { key: Uint8Array.from(key), value: Uint8Array.from(value) };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

export function ${n.create}(options: unknown = {}, deps?: { logger?: Logger; metrics?: MetricsScope }): ${n.cls} {
  return new ${n.cls}(parse${n.opts}(options), deps);
}
`,
    'src/index.ts': indexTs(c),
    'test/conformance.test.ts': `import { runStoreConformance } from '@tributary/core/conformance';
import { ${n.create} } from '../src/index.js';

// Every store, ours or a third party's, passes the same kit. Add \`reopen\` and \`durable: true\`
// once the store keeps data beyond one instance.
runStoreConformance('${c.name}', {
  open: async () => ${n.create}(),
});
`,
    'test/plugin.test.ts': `import { createRegistry, isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { plugins } from '../src/index.js';

describe('${c.name} plugin', () => {
  it('registers and creates through the registry', async () => {
    const registry = createRegistry({ plugins });
    const store = await registry.create('store', '${c.name}', { maxKeys: 10 });
    await store.batch([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(2) }]);
    expect(await store.get(Uint8Array.of(1))).toEqual(Uint8Array.of(2));
    await store.close();
  });

  it('names the bad option', async () => {
    const registry = createRegistry({ plugins });
    const err = await registry.create('store', '${c.name}', { maxKeys: -1 }).catch((e: unknown) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
    expect((err as Error).message).toContain('maxKeys');
  });
});
`,
    'README.md': readme(
      c,
      `const store = await registry.create('store', '${c.name}', { maxKeys: 1_000_000 });
await store.batch([{ type: 'put', key: Buffer.from('k'), value: Buffer.from('v') }]);
for await (const { key, value } of store.scan({ prefix: Buffer.from('k') })) console.log(key, value);
await store.close();`,
      '`runStoreConformance`',
    ),
  };
}

function connection(c) {
  const n = implNames(c);
  return {
    'src/options.ts': `import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const ${c.nameCamel}OptionsSchema = z
  .object({
    /** Used when connect() is given no timeoutMs. */
    connectTimeoutMs: z.number().int().nonnegative().default(10_000),
    noDelay: z.boolean().default(true),
  })
  .strict();

export type ${n.opts} = z.output<typeof ${c.nameCamel}OptionsSchema>;

export const parse${n.opts} = optionsParser('${c.name}', ${c.nameCamel}OptionsSchema);
`,
    [`src/${n.file}.ts`]: `import net from 'node:net';
import {
  componentLogger,
  type Connection,
  type ConnectionFactory,
  type ConnectOptions,
  type Endpoint,
  ErrAborted,
  ErrConnectFailed,
  ErrConnectRefused,
  ErrConnectTimeout,
  type Listener,
  type Logger,
  type MetricsScope,
  nullMetrics,
} from '@tributary/core';
import { parse${n.opts}, type ${n.opts} } from './options.js';

const describeEndpoint = (e: Endpoint) => (e.host.includes(':') ? \`[\${e.host}]:\${e.port}\` : \`\${e.host}:\${e.port}\`);

function asConnection(socket: net.Socket): Connection {
  Object.defineProperty(socket, 'secure', { value: false, enumerable: true });
  return socket as unknown as Connection;
}

/**
 * A connection factory over plain TCP. Start here and swap the socket for your transport; keep
 * the contract: a Duplex with back-pressure, TRIB_CONNECT_* errors, timeouts and abort.
 */
export class ${n.cls} implements ConnectionFactory {
  readonly name = '${c.name}';
  readonly #options: ${n.opts};
  readonly #log: Logger;
  readonly #connects;

  constructor(options: ${n.opts}, deps: { logger?: Logger; metrics?: MetricsScope } = {}) {
    this.#options = options;
    this.#log = componentLogger(deps.logger, 'connection-${c.name}');
    this.#connects = (deps.metrics ?? nullMetrics()).counter('connects', 'Outgoing connections made');
  }

  connect(endpoint: Endpoint, options: ConnectOptions = {}): Promise<Connection> {
    const where = describeEndpoint(endpoint);
    const timeoutMs = options.timeoutMs ?? this.#options.connectTimeoutMs;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(ErrAborted(\`connect to \${where}\`));
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: endpoint.host,
        port: endpoint.port,
        noDelay: this.#options.noDelay,
        allowHalfOpen: true,
      });
      const timer = timeoutMs > 0 ? setTimeout(() => fail(ErrConnectTimeout(where, timeoutMs)), timeoutMs) : undefined;
      const onAbort = () => fail(ErrAborted(\`connect to \${where}\`));
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
      };
      const fail = (err: Error) => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: NodeJS.ErrnoException) =>
        fail(err.code === 'ECONNREFUSED' ? ErrConnectRefused(where, { cause: err }) : ErrConnectFailed(where, err.message, { cause: err }));
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', () => {
        cleanup();
        this.#connects.inc();
        this.#log.debug({ endpoint: where }, 'connected');
        resolve(asConnection(socket));
      });
    });
  }

  listen(endpoint: Endpoint, onConnection: (connection: Connection) => void): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: this.#options.noDelay, allowHalfOpen: true }, (socket) => onConnection(asConnection(socket)));
      server.once('error', (err) => reject(ErrConnectFailed(describeEndpoint(endpoint), err.message, { cause: err })));
      server.listen(endpoint.port, endpoint.host, () => {
        const address = server.address() as net.AddressInfo;
        let closing: Promise<void> | undefined;
        resolve({
          address: () => ({ host: endpoint.host, port: address.port }),
          close: () => (closing ??= new Promise<void>((done) => server.close(() => done()))),
        });
      });
    });
  }
}

export function ${n.create}(options: unknown = {}, deps?: { logger?: Logger; metrics?: MetricsScope }): ${n.cls} {
  return new ${n.cls}(parse${n.opts}(options), deps);
}
`,
    'src/index.ts': indexTs(c),
    'test/conformance.test.ts': `import { runConnectionFactoryConformance } from '@tributary/core/conformance';
import { ${n.create} } from '../src/index.js';

// Every connection factory, ours or a third party's, passes the same kit.
runConnectionFactoryConformance('${c.name}', {
  create: async () => ${n.create}(),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
});
`,
    'README.md': readme(
      c,
      `const factory = await registry.create('connection-factory', '${c.name}', { connectTimeoutMs: 5000 });
const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (conn) => conn.pipe(conn));
const conn = await factory.connect(listener.address(), { timeoutMs: 1000 });
conn.write('ping');`,
      '`runConnectionFactoryConformance`',
    ),
  };
}

function auth(c) {
  const n = implNames(c);
  const mech = `X-${c.name.toUpperCase()}`;
  return {
    'src/options.ts': `import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const ${c.nameCamel}OptionsSchema = z
  .object({
    /** The cleartext mechanism refuses connections that are not secure unless this is set. */
    allowInsecure: z.boolean().default(false),
  })
  .strict();

export type ${n.opts} = z.output<typeof ${c.nameCamel}OptionsSchema>;

export const parse${n.opts} = optionsParser('${c.name}', ${c.nameCamel}OptionsSchema);
`,
    [`src/${n.file}.ts`]: `import { randomBytes } from 'node:crypto';
import {
  type AuthProvider,
  componentLogger,
  deriveCredential,
  ErrAuthFailed,
  ErrAuthMechanism,
  type Logger,
  type MetricsScope,
  nullMetrics,
  type SaslClient,
  type SaslClientOptions,
  type SaslServer,
  type SaslServerOptions,
  type SaslServerStep,
  verifyPassword,
} from '@tributary/core';
import { parse${n.opts}, type ${n.opts} } from './options.js';

export const MECHANISM = '${mech}';
const DUMMY = deriveCredential('', randomBytes(16).toString('hex'), { hashes: ['SHA-512'] });
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A one-step cleartext mechanism (\\0user\\0password, like PLAIN). Start here and replace the
 * exchange with your mechanism; keep the contract: TRIB_AUTH_FAILED for every failure (no user
 * enumeration), TRIB_AUTH_MECHANISM for a mechanism not offered.
 */
export class ${n.cls} implements AuthProvider {
  readonly name = '${c.name}';
  readonly mechanisms = [MECHANISM] as const;
  readonly #options: ${n.opts};
  readonly #log: Logger;
  readonly #failures;

  constructor(options: ${n.opts}, deps: { logger?: Logger; metrics?: MetricsScope } = {}) {
    this.#options = options;
    this.#log = componentLogger(deps.logger, 'auth-${c.name}');
    this.#failures = (deps.metrics ?? nullMetrics()).counter('failures', 'Failed authentications');
  }

  #checkSecure(secure: boolean): void {
    if (!secure && !this.#options.allowInsecure) throw ErrAuthFailed(\`\${MECHANISM} needs a secure connection\`);
  }

  createClient(options: SaslClientOptions): SaslClient {
    const mechanism = options.mechanism ?? MECHANISM;
    if (mechanism !== MECHANISM) throw ErrAuthMechanism(mechanism, this.mechanisms);
    this.#checkSecure(options.secure);
    return {
      mechanism,
      start: () => enc.encode(\`\\0\${options.username}\\0\${options.password}\`),
      step: () => {
        throw ErrAuthFailed(\`\${MECHANISM} has no challenges\`);
      },
      finish: () => {},
    };
  }

  createServer(options: SaslServerOptions): SaslServer {
    let state: 'new' | 'done' = 'new';
    const fail = (why: string): never => {
      state = 'done';
      this.#failures.inc();
      this.#log.debug({ why }, 'authentication failed');
      throw ErrAuthFailed(why);
    };
    return {
      mechanisms: this.mechanisms,
      begin: async (mechanism: string, initial: Uint8Array): Promise<SaslServerStep> => {
        if (mechanism !== MECHANISM) throw ErrAuthMechanism(mechanism, this.mechanisms);
        if (state !== 'new') fail('the exchange is over');
        state = 'done';
        if (!options.secure && !this.#options.allowInsecure) fail('insecure connection');
        const parts = dec.decode(initial).split('\\0');
        if (parts.length !== 3) fail('malformed message');
        const [, username, password] = parts as [string, string, string];
        // An unknown user costs the same work as a wrong password: no user enumeration by timing.
        const credential = await options.credentials.lookup(username);
        const ok = verifyPassword(credential ?? DUMMY, password) && credential !== undefined;
        if (!ok) fail('bad username or password');
        return { done: true, username };
      },
      step: async () => fail(\`\${MECHANISM} has no second step\`),
    };
  }
}

export function ${n.create}(options: unknown = {}, deps?: { logger?: Logger; metrics?: MetricsScope }): ${n.cls} {
  return new ${n.cls}(parse${n.opts}(options), deps);
}
`,
    'src/index.ts': indexTs(c).replace(
      `export { ${n.cls}, ${n.create} }`,
      `export { MECHANISM, ${n.cls}, ${n.create} }`,
    ),
    'test/conformance.test.ts': `import { runAuthConformance } from '@tributary/core/conformance';
import { ${n.create} } from '../src/index.js';

// Every auth provider, ours or a third party's, passes the same kit.
runAuthConformance('${c.name}', {
  create: async () => ${n.create}(),
  secure: true,
});
`,
    'README.md': readme(
      c,
      `const provider = await registry.create('auth', '${c.name}', { allowInsecure: false });
const client = provider.createClient({ username: 'alice', password: 'pencil', secure: true });
console.log(provider.mechanisms, client.start());`,
      '`runAuthConformance`',
    ),
  };
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`new-plugin: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!args.kind || !args.name) {
    console.error(`new-plugin: --kind and --name are required\n\n${USAGE}`);
    process.exit(2);
  }
  try {
    const out = generatePlugin({
      kind: args.kind,
      name: args.name,
      dir: args.dir,
      packageName: args.package,
      root: args.root ? resolve(args.root) : WORKSPACE_ROOT,
      force: args.force,
    });
    console.log(`created ${out.packageName} in ${out.dir}:`);
    for (const f of out.files) console.log(`  ${f}`);
    const root = args.root ? resolve(args.root) : WORKSPACE_ROOT;
    console.log(
      out.inWorkspace
        ? `\nnext: npm install   (links the new workspace package)\n      npx vitest run --project ${relative(join(root, 'plugins'), out.dir)}`
        : `\nnext: cd ${out.dir} && npm install && npm test`,
    );
  } catch (err) {
    console.error(`new-plugin: ${err.message}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
