import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { checkBoundaries, findImports, isTestFile } from '../check.mjs';

const run = promisify(execFile);
const CHECK = join(__dirname, '..', 'check.mjs');

// A miniature workspace in a temp folder, shaped like ours; each test adds its own offence.
type Files = Record<string, string>;
const exportsMap = (extra: Record<string, string> = {}) => ({
  '.': { '@tributary/source': './src/index.ts', import: './dist/index.js' },
  './package.json': './package.json',
  ...extra,
});

function pkg(
  name: string,
  deps: Record<string, string> = {},
  devDeps: Record<string, string> = {},
  extra = {},
) {
  return JSON.stringify({
    name,
    type: 'module',
    exports: exportsMap(),
    dependencies: deps,
    devDependencies: devDeps,
    ...extra,
  });
}

function baseWorkspace(): Files {
  return {
    'package.json': JSON.stringify({
      name: 'ws',
      private: true,
      workspaces: ['packages/*', 'plugins/*', 'tools/*', 'e2e'],
    }),
    'vitest.shared.ts': 'export const x = 1;\n',
    'packages/core/package.json': JSON.stringify({
      name: '@tributary/core',
      type: 'module',
      exports: exportsMap({ './conformance': './dist/conformance/index.js' }),
    }),
    'packages/core/src/index.ts': "export * from './errors.js';\n",
    'packages/core/src/errors.ts': 'export const E = 1;\n',
    'packages/core/vitest.config.ts': "import { x } from '../../vitest.shared';\nexport const c = x;\n",
    'packages/metrics/package.json': pkg('@tributary/metrics', { '@tributary/core': '*' }),
    'packages/metrics/src/index.ts': "import type { E } from '@tributary/core';\nexport type M = E;\n",
    'packages/codec/package.json': pkg('@tributary/codec', {
      '@tributary/core': '*',
      '@tributary/metrics': '*',
    }),
    'packages/codec/src/index.ts':
      "import { E } from '@tributary/core';\nimport type { M } from '@tributary/metrics';\nexport { E };\nexport type C = M;\nexport * from './frame.js';\n",
    'packages/codec/src/frame.ts': 'export const F = 2;\n',
    'packages/transport/package.json': pkg('@tributary/transport', {
      '@tributary/codec': '*',
      '@tributary/pool': '*',
    }),
    'packages/transport/src/index.ts':
      "import { F } from '@tributary/codec';\nimport { P } from '@tributary/pool';\nexport const T = F + P;\n",
    'packages/pool/package.json': pkg('@tributary/pool', { '@tributary/core': '*' }),
    'packages/pool/src/index.ts': "import { E } from '@tributary/core';\nexport const P = E;\n",
    'packages/cluster/package.json': pkg('@tributary/cluster', {
      '@tributary/codec': '*',
      '@tributary/store-x': '*',
    }),
    'packages/cluster/src/index.ts':
      "import { F } from '@tributary/codec';\nimport { plugins } from '@tributary/store-x';\nexport const C = [F, plugins];\n",
    'packages/datasource/package.json': pkg(
      '@tributary/datasource',
      { '@tributary/codec': '*' },
      {
        '@tributary/cluster': '*',
        '@tributary/chaos-proxy': '*',
      },
    ),
    'packages/datasource/src/index.ts': "import { F } from '@tributary/codec';\nexport const D = F;\n",
    'packages/datasource/test/ds.test.ts':
      "import { C } from '@tributary/cluster';\nimport { proxy } from '@tributary/chaos-proxy';\nimport { D } from '../src/index.js';\nexport const t = [C, proxy, D];\n",
    'plugins/store-x/package.json': pkg(
      '@tributary/store-x',
      {},
      { '@tributary/core': '*', '@tributary/metrics': '*' },
      {
        peerDependencies: { '@tributary/core': '*' },
      },
    ),
    'plugins/store-x/src/index.ts': "import { E } from '@tributary/core';\nexport const plugins = [E];\n",
    'plugins/store-x/test/conformance.test.ts':
      "import { E } from '@tributary/core/conformance';\nimport type { M } from '@tributary/metrics';\nexport const t: M = E;\n",
    'tools/chaos-proxy/package.json': pkg('@tributary/chaos-proxy', { '@tributary/cli': '*' }),
    'tools/chaos-proxy/src/index.ts': "import '@tributary/cli';\nexport const proxy = 1;\n",
    'packages/cli/package.json': pkg('@tributary/cli', {
      '@tributary/datasource': '*',
      '@tributary/cluster': '*',
    }),
    'packages/cli/src/index.ts':
      "export { D } from '@tributary/datasource';\nexport const run = () => import('@tributary/cluster');\n",
    'e2e/package.json': pkg('@tributary/e2e', { '@tributary/cli': '*', '@tributary/codec': '*' }),
    'e2e/test/all.test.ts': "import { F } from '@tributary/codec';\nexport const t = F;\n",
    // Fixture folders are never scanned (they hold deliberately odd code).
    'packages/codec/test/fixtures/evil.ts': "import '../../../transport/src/index.js';\n",
  };
}

const dirs: string[] = [];
function workspace(changes: Files = {}, remove: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'boundaries-'));
  dirs.push(root);
  const files = { ...baseWorkspace(), ...changes };
  for (const r of remove) delete files[r];
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const messages = (root: string) =>
  checkBoundaries(root).violations.map(
    (v: { file: string; line: number; message: string }) => `${v.file}:${v.line}: ${v.message}`,
  );

describe('check-boundaries', () => {
  it('passes a workspace that follows the rules', () => {
    const result = checkBoundaries(workspace());
    expect(result.violations).toEqual([]);
    expect(result.projects).toBe(11);
    expect(result.files).toBeGreaterThan(10);
  });

  it('flags deep imports of another package, but allows declared subpaths like core/conformance', () => {
    const root = workspace({
      'packages/transport/src/deep.ts':
        "import { F } from '@tributary/codec/src/frame.js';\nexport const x = F;\n",
      'packages/transport/src/ok.ts':
        "import pkg from '@tributary/codec/package.json';\nexport const y = pkg;\n",
    });
    expect(messages(root)).toEqual([
      'packages/transport/src/deep.ts:1: "@tributary/codec/src/frame.js" is not a public entry of @tributary/codec (its package.json "exports" has no "./src/frame.js")',
    ]);
  });

  it('flags relative imports that leave the project, naming the package they reach into', () => {
    const root = workspace({
      'packages/transport/src/rel.ts': "\n\nexport { F } from '../../codec/src/frame.js';\n",
      'packages/transport/src/out.ts': "import '../../../somewhere/else.js';\n",
    });
    expect(messages(root)).toEqual([
      'packages/transport/src/out.ts:1: relative import "../../../somewhere/else.js" leaves packages/transport',
      'packages/transport/src/rel.ts:3: relative import "../../codec/src/frame.js" reaches into @tributary/codec; import it by its public name',
    ]);
  });

  it('flags upward dependencies in source and in package.json', () => {
    const root = workspace({
      'packages/codec/package.json': pkg('@tributary/codec', {
        '@tributary/core': '*',
        '@tributary/metrics': '*',
        '@tributary/transport': '*',
      }),
      'packages/codec/src/up.ts': "import { T } from '@tributary/transport';\nexport const u = T;\n",
    });
    const m = messages(root);
    expect(m).toHaveLength(2);
    expect(m[0]).toMatch(
      /^packages\/codec\/package.json:1: dependency @tributary\/transport: @tributary\/codec \(layer 2\) must not depend on @tributary\/transport \(layer 3\)/,
    );
    expect(m[1]).toMatch(
      /^packages\/codec\/src\/up.ts:1: @tributary\/codec \(layer 2\) must not depend on @tributary\/transport/,
    );
  });

  it('flags production dependencies that no source file imports (tests only count for devDependencies)', () => {
    const root = workspace({
      'packages/datasource/package.json': pkg(
        '@tributary/datasource',
        { '@tributary/codec': '*', '@tributary/pool': '*', leftpad: '*', '@types/node': '*' },
        { '@tributary/cluster': '*', '@tributary/chaos-proxy': '*' },
      ),
      // Only a test uses pool: that makes it a devDependency, not a dependency.
      'packages/datasource/test/pool.test.ts': "import { P } from '@tributary/pool';\nexport const t = P;\n",
    });
    const m = messages(root);
    expect(m).toEqual([
      'packages/datasource/package.json:1: dependency @tributary/pool is not imported by any source file of @tributary/datasource; remove it, or move it to devDependencies if only tests use it',
      'packages/datasource/package.json:1: dependency leftpad is not imported by any source file of @tributary/datasource; remove it, or move it to devDependencies if only tests use it',
    ]);
  });

  it('keeps peers on one layer apart in source, except the allowed transport → pool edge', () => {
    const root = workspace({
      'packages/datasource/src/peer.ts': "import { C } from '@tributary/cluster';\nexport const p = C;\n",
      'packages/pool/package.json': pkg('@tributary/pool', {
        '@tributary/core': '*',
        '@tributary/transport': '*',
      }),
    });
    const m = messages(root);
    expect(
      m.some((x) =>
        x.startsWith(
          'packages/datasource/src/peer.ts:1: @tributary/datasource (layer 4) must not depend on @tributary/cluster (layer 4)',
        ),
      ),
    ).toBe(true);
    expect(
      m.some((x) => x.includes('source imports @tributary/cluster, which is only a devDependency')),
    ).toBe(true);
    expect(m.some((x) => x.startsWith('packages/pool/package.json:1: dependency @tributary/transport'))).toBe(
      true,
    );
    expect(m.some((x) => x.includes('transport/src/index.ts'))).toBe(false);
  });

  it('keeps metrics and plugins on core only (tests of plugins may use more)', () => {
    const root = workspace({
      'packages/metrics/src/bad.ts': "import { F } from '@tributary/codec';\nexport const b = F;\n",
      'packages/metrics/package.json': pkg('@tributary/metrics', {
        '@tributary/core': '*',
        '@tributary/codec': '*',
      }),
      'plugins/store-x/src/bad.ts': "import type { M } from '@tributary/metrics';\nexport type B = M;\n",
    });
    const m = messages(root);
    expect(m).toContain(
      'packages/metrics/package.json:1: dependency @tributary/codec: @tributary/metrics may depend on @tributary/core only, not @tributary/codec',
    );
    expect(m).toContain(
      'packages/metrics/src/bad.ts:1: @tributary/metrics may depend on @tributary/core only, not @tributary/codec',
    );
    expect(m).toContain(
      'plugins/store-x/src/bad.ts:1: source imports @tributary/metrics, which is only a devDependency of @tributary/store-x',
    );
    expect(m).toContain(
      'plugins/store-x/src/bad.ts:1: plugin @tributary/store-x may depend on @tributary/core only, not @tributary/metrics',
    );
    expect(m.some((x) => x.includes('conformance.test.ts'))).toBe(false);
  });

  it('forbids core from depending on anything, and packages from using tools outside tests', () => {
    const root = workspace({
      'packages/core/src/bad.ts': "export const z = await import('@tributary/metrics');\n",
      'packages/datasource/src/chaos.ts':
        "import { proxy } from '@tributary/chaos-proxy';\nexport const c = proxy;\n",
    });
    const m = messages(root);
    expect(m).toContain(
      'packages/core/src/bad.ts:1: imports @tributary/metrics but packages/core/package.json does not declare it',
    );
    expect(m).toContain('packages/core/src/bad.ts:1: @tributary/core must not depend on @tributary/metrics');
    expect(m).toContain(
      'packages/datasource/src/chaos.ts:1: @tributary/datasource must not depend on tools/chaos-proxy (tools and e2e are for tests only)',
    );
  });

  it('flags imports of undeclared workspace packages', () => {
    const root = workspace({ 'packages/cli/src/more.ts': "export * from '@tributary/codec';\n" });
    expect(messages(root)).toEqual([
      'packages/cli/src/more.ts:1: imports @tributary/codec but packages/cli/package.json does not declare it',
    ]);
  });

  it('ignores imports inside comments, strings and template literals, and string-looking URLs', () => {
    const root = workspace({
      'packages/codec/src/notes.ts':
        "// import { T } from '@tributary/transport';\n/* import '@tributary/cli';\n */\nexport const url = 'http://x//y';\n" +
        'export const code = "import \'@tributary/cli\'";\n' +
        "export const gen = `\nimport { T } from '@tributary/transport';\n$" +
        '{url}`;\n' +
        "export const real = await import('@tributary/core');\n",
    });
    expect(messages(root)).toEqual([]);
  });

  it('exits 1 with one line per violation from the command line, 0 when clean', async () => {
    const clean = await run(process.execPath, [CHECK, '--root', workspace()]);
    expect(clean.stdout).toMatch(/^check-boundaries: ok \(11 projects, \d+ files\)/);
    const bad = workspace({ 'packages/pool/src/x.ts': "import '@tributary/codec/src/frame.js';\n" });
    const err = await run(process.execPath, [CHECK, '--root', bad]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toContain(
      'packages/pool/src/x.ts:1: "@tributary/codec/src/frame.js" is not a public entry',
    );
    expect((err as { stderr: string }).stderr).toContain(
      'packages/pool/src/x.ts:1: imports @tributary/codec but packages/pool/package.json does not declare it',
    );
  });
});

describe('helpers', () => {
  it('finds every kind of import with its line', () => {
    const text = [
      "import a from 'a';",
      "import { b,\n  c } from 'bc';",
      "export * from 'star';",
      "export { d } from 'd';",
      "import 'side';",
      "const e = await import('dyn');",
      "const f = require('req');",
      "import type { G } from 'types';",
    ].join('\n');
    expect(
      findImports(text).map((i: { specifier: string; line: number }) => `${i.line}:${i.specifier}`),
    ).toEqual(['1:a', '3:bc', '4:star', '5:d', '6:side', '7:dyn', '8:req', '9:types']);
  });

  it('tells test files from source files', () => {
    expect(isTestFile('test/a.test.ts')).toBe(true);
    expect(isTestFile('src/a.test.ts')).toBe(true);
    expect(isTestFile('vitest.config.ts')).toBe(true);
    expect(isTestFile('src/test-utils.ts')).toBe(false);
    expect(isTestFile('src/index.ts')).toBe(false);
  });
});
