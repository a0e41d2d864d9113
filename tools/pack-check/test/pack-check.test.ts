import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bareImports, checkPackages, entryTargets, packageOf } from '../pack-check.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'pack-check-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(root: string, files: Record<string, string>) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

const exportsMap = {
  '.': {
    '@tributary/source': './src/index.ts',
    import: { types: './dist/index.d.ts', default: './dist/index.js' },
    require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
  },
  './package.json': './package.json',
};

function manifest(name: string, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    name,
    version: '0.1.0',
    license: 'MIT',
    type: 'module',
    engines: { node: '>=20' },
    files: ['dist'],
    main: './dist/index.cjs',
    module: './dist/index.js',
    types: './dist/index.d.ts',
    exports: exportsMap,
    ...extra,
  });
}

describe('pack-check helpers', () => {
  it('finds the package a specifier names, and nothing for relative, builtin or URL specifiers', () => {
    expect(packageOf('zod')).toBe('zod');
    expect(packageOf('pino/file')).toBe('pino');
    expect(packageOf('@tributary/core/conformance')).toBe('@tributary/core');
    expect(packageOf('./x.js')).toBeNull();
    expect(packageOf('node:fs')).toBeNull();
    expect(packageOf('#internal')).toBeNull();
    expect(packageOf('Not a package')).toBeNull();
  });

  it('lists entry targets without the workspace source condition', () => {
    const targets = entryTargets({
      exports: exportsMap,
      main: './dist/index.cjs',
      bin: { x: './dist/bin.js' },
    });
    expect([...targets.keys()].sort()).toEqual([
      'dist/bin.js',
      'dist/index.cjs',
      'dist/index.d.cts',
      'dist/index.d.ts',
      'dist/index.js',
      'package.json',
    ]);
  });

  it('collects bare imports from ESM, CJS and declaration files, leaving out builtins and relative paths', () => {
    const dir = join(tmp, 'imports');
    write(dir, {
      'dist/index.js':
        'import { a } from "alpha";\nimport "side-effect";\nexport * from \'beta/sub\';\nconst x = await import("gamma");\nimport { readFileSync } from "node:fs";\nimport path from "path";\nimport { y } from "./y.js";\n',
      'dist/index.cjs': 'var d = require("delta");\nvar e = require( "@scope/eps/deep" );\n',
      'dist/index.d.ts': "import type { T } from 'types-only';\n",
    });
    expect([...bareImports(dir).keys()].sort()).toEqual([
      '@scope/eps',
      'alpha',
      'beta',
      'delta',
      'gamma',
      'side-effect',
      'types-only',
    ]);
  });
});

describe('pack-check on packed fixtures', () => {
  it('passes a clean package and names each problem of a broken one', async () => {
    const root = join(tmp, 'repo');
    const dist = {
      'dist/index.js': 'import { z } from "zod";\nexport const good = z;\n',
      'dist/index.cjs': 'var z = require("zod");\nexports.good = z;\n',
      'dist/index.d.ts': 'export declare const good: unknown;\n',
      'dist/index.d.cts': 'export declare const good: unknown;\n',
    };
    write(join(root, 'packages/good'), {
      'package.json': manifest('@fixture/good', { dependencies: { zod: '^3.25.0' } }),
      'README.md': '# good\n',
      LICENSE: 'MIT\n',
      'src/index.ts': 'export const good = 1;\n',
      ...dist,
    });
    write(join(root, 'plugins/bad'), {
      'package.json': manifest('@fixture/bad', {
        files: ['dist', 'src'],
        dependencies: { zod: '^3.25.0', unused: '^1.0.0' },
        devDependencies: { 'dev-only': '^1.0.0' },
        exports: { ...exportsMap, './extra': './dist/extra.js' },
      }),
      'README.md': '# bad\n',
      'src/index.ts': 'export const bad = 1;\n',
      'dist/index.js': 'import "undeclared";\nimport { d } from "dev-only";\nexport const bad = d;\n',
      'dist/index.cjs': 'require("undeclared");\nexports.bad = require("dev-only").d;\n',
      'dist/index.js.map': JSON.stringify({
        version: 3,
        sources: ['../src/index.ts', '../../../node_modules/inlined-lib/index.js'],
        mappings: '',
      }),
      'dist/index.d.ts': 'export declare const bad: unknown;\n',
      'dist/index.d.cts': 'export declare const bad: unknown;\n',
    });

    const results = await checkPackages(root, { concurrency: 2 });
    expect(results.map((r: { name: string }) => r.name)).toEqual(['@fixture/bad', '@fixture/good']);
    const [bad, good] = results;
    expect(good.problems).toEqual([]);
    const text = bad.problems.join('\n');
    expect(text).toContain('unexpected file in tarball: src/index.ts');
    expect(text).toContain('LICENSE missing from tarball');
    expect(text).toContain('exports../extra points to dist/extra.js');
    expect(text).toContain('publint error FILE_DOES_NOT_EXIST');
    expect(text).toContain('dist imports "undeclared"');
    expect(text).toContain(
      'dist imports "dev-only" (dist/index.cjs, dist/index.js) but it is not in dependencies or peerDependencies (only a devDependency)',
    );
    expect(text).toContain('dist bundles "inlined-lib" from node_modules');
    expect(text).not.toContain('"zod"');
    expect(bad.notes).toEqual([
      'dependency "zod" is never imported by dist',
      'dependency "unused" is never imported by dist',
    ]);
  });
});

describe('pack-check on this repository', () => {
  // CI builds before it tests; locally build first (`npx nx run-many -t build`).
  const root = resolve(import.meta.dirname, '../../..');
  it('every publishable package packs cleanly', async () => {
    if (!existsSync(join(root, 'packages/core/dist/index.js'))) {
      throw new Error('pack-check needs built packages: run `npx nx run-many -t build` first (.ci/run does)');
    }
    const results = await checkPackages(root);
    expect(results.length).toBeGreaterThanOrEqual(18);
    const problems = results.flatMap((r: { name: string; problems: string[] }) =>
      r.problems.map((p) => `${r.name}: ${p}`),
    );
    expect(problems).toEqual([]);
  }, 120_000);
});
