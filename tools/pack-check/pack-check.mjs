#!/usr/bin/env node
// Checks what users would install: `npm pack` every publishable package (packages/*, plugins/*)
// into a temporary folder, then for each tarball
//   - it holds only dist/**, README.md, LICENSE and package.json (and those three are there);
//   - every file `exports`, `main`, `module`, `types` and `bin` point to is in it;
//   - publint finds no error or warning in it;
//   - every bare import in dist (import/export from, import(), require()) names Node itself,
//     the package itself, or a package in its dependencies/peerDependencies/optionalDependencies.
// Run after a build (`npx nx run-many -t build`):
//   node tools/pack-check/pack-check.mjs [--json] [@tributary/core ...]  (default: every package)
//   npm run check:pack
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { publishableDirs } from './licenses.mjs';

const run = promisify(execFile);

/** The workspace-only export condition: it points at src/, which is never published. */
export const SOURCE_CONDITION = '@tributary/source';

const ALLOWED = [/^dist\//, /^README\.md$/, /^LICENSE$/, /^package\.json$/];
const REQUIRED = ['package.json', 'README.md', 'LICENSE'];
// publint findings we accept, with the reason (keep this list short and explained).
const PUBLINT_ACCEPTED = [
  // The source condition is for vitest/tsc inside the workspace; node and bundlers never set it,
  // so its src/ target not being published is intended.
  (m) => m.path.includes(SOURCE_CONDITION),
];

/**
 * `npm pack` the given package folders into `dest` with at most `concurrency` npm processes
 * (each packs a share of the folders in one run; npm's start-up is the slow part).
 * Resolves to `[{ dir, name, version, tarball, files }]` in the order of `dirs`.
 */
export async function packPackages(dirs, dest, { concurrency = 2 } = {}) {
  mkdirSync(dest, { recursive: true });
  const shares = Array.from({ length: Math.min(concurrency, dirs.length) }, () => []);
  for (const [i, d] of dirs.entries()) shares[i % shares.length].push(d);
  const results = await Promise.all(
    shares.map(async (share) => {
      const { stdout } = await run(
        'npm',
        ['pack', ...share.map((d) => resolve(d)), '--pack-destination', dest, '--json', '--ignore-scripts'],
        { cwd: dest, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_loglevel: 'error' } },
      );
      const packed = JSON.parse(stdout);
      return share.map((dir, i) => ({
        dir,
        name: packed[i].name,
        version: packed[i].version,
        tarball: join(dest, packed[i].filename),
        files: packed[i].files.map((f) => f.path).sort(),
      }));
    }),
  );
  const byDir = new Map(results.flat().map((r) => [r.dir, r]));
  return dirs.map((d) => byDir.get(d));
}

/** Extracts a tarball into `into` and returns the package folder (`<into>/package`). */
export async function extractTarball(tarball, into) {
  mkdirSync(into, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', into]);
  return join(into, 'package');
}

/** Every file path an exports map (minus the source condition), main, module, types or bin names. */
export function entryTargets(pkg) {
  const out = new Map(); // target -> where it was named
  const walk = (value, where) => {
    if (typeof value === 'string') out.set(value.replace(/^\.\//, ''), where);
    else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, `${where}[${i}]`);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) if (k !== SOURCE_CONDITION) walk(v, `${where}.${k}`);
    }
  };
  walk(pkg.exports ?? {}, 'exports');
  for (const field of ['main', 'module', 'types', 'typings'])
    if (typeof pkg[field] === 'string') walk(pkg[field], field);
  if (typeof pkg.bin === 'string') walk(pkg.bin, 'bin');
  else walk(pkg.bin ?? {}, 'bin');
  for (const t of [...out.keys()]) if (t.includes('*')) out.delete(t); // subpath patterns: publint checks those
  return out;
}

const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|\bexport\s*\*\s*from\s*)(["'])([^"'\n\\]+)\1/g;
const PACKAGE_NAME = /^(?:@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*$/;

/** The package a bare specifier names (`@a/b/c` → `@a/b`, `x/y` → `x`), or null if it is not bare. */
export function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('#')) return null;
  if (/^[a-z]+:/i.test(specifier)) return null; // node:, data:, file:, http:
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return PACKAGE_NAME.test(name) ? name : null;
}

/** Bare imports in the JS and declaration files under `dir`: Map<package, Set<file>> (builtins left out). */
export function bareImports(pkgDir) {
  const found = new Map();
  const visit = (dir) => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      const file = join(dir, ent.name);
      if (ent.isDirectory()) visit(file);
      else if (/\.(?:[cm]?js|d\.[cm]?ts)$/.test(ent.name)) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(SPECIFIER)) {
          const name = packageOf(m[2]);
          if (!name || isBuiltin(m[2])) continue;
          if (!found.has(name)) found.set(name, new Set());
          found.get(name).add(relative(pkgDir, file));
        }
      }
    }
  };
  visit(join(pkgDir, 'dist'));
  return found;
}

/** Packages the bundler inlined into dist, read from the source maps: Map<package, Set<map file>>. */
export function bundledPackages(pkgDir) {
  const found = new Map();
  const visit = (dir) => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      const file = join(dir, ent.name);
      if (ent.isDirectory()) visit(file);
      else if (ent.name.endsWith('.map')) {
        let sources = [];
        try {
          sources = JSON.parse(readFileSync(file, 'utf8')).sources ?? [];
        } catch {
          continue; // not a JSON source map: nothing to learn from it
        }
        for (const src of sources) {
          const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(String(src).replaceAll('\\', '/'));
          if (!m) continue;
          if (!found.has(m[1])) found.set(m[1], new Set());
          found.get(m[1]).add(relative(pkgDir, file));
        }
      }
    }
  };
  visit(join(pkgDir, 'dist'));
  return found;
}

/** Problems with one packed package (empty when it is fine) and notes that don't fail it. */
export async function checkPacked(packed, workdir) {
  const problems = [];
  const notes = [];
  const { name, files } = packed;
  const fileSet = new Set(files);
  for (const f of files)
    if (!ALLOWED.some((re) => re.test(f))) problems.push(`unexpected file in tarball: ${f}`);
  for (const must of REQUIRED) if (!fileSet.has(must)) problems.push(`${must} missing from tarball`);
  if (!files.some((f) => f.startsWith('dist/'))) {
    problems.push('no dist/ in tarball (not built? run `npx nx run-many -t build`)');
    return { name, problems, notes };
  }

  const pkgDir = await extractTarball(packed.tarball, join(workdir, name.replace('/', '__')));
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  for (const [target, where] of entryTargets(pkg)) {
    if (!fileSet.has(target)) problems.push(`${where} points to ${target}, which is not in the tarball`);
  }

  const { messages } = await publint({ pkgDir, pack: false, level: 'warning', strict: false });
  for (const m of messages) {
    const text = formatMessage(m, pkg, { color: false }) ?? m.code;
    if (PUBLINT_ACCEPTED.some((accept) => accept(m))) continue;
    problems.push(`publint ${m.type} ${m.code}: ${text}`);
  }

  const declared = new Set([
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
    ...Object.keys(pkg.optionalDependencies ?? {}),
  ]);
  const dev = new Set(Object.keys(pkg.devDependencies ?? {}));
  const used = bareImports(pkgDir);
  for (const [dep, where] of used) {
    if (dep === name || declared.has(dep)) continue;
    const list = [...where].sort();
    problems.push(
      `dist imports "${dep}" (${list.slice(0, 3).join(', ')}${list.length > 3 ? ', ...' : ''}) but it is not in dependencies or peerDependencies${dev.has(dep) ? ' (only a devDependency)' : ''}`,
    );
  }
  for (const [dep, maps] of bundledPackages(pkgDir)) {
    problems.push(
      `dist bundles "${dep}" from node_modules (${[...maps].sort()[0]}): declare it in dependencies so the bundler leaves it external`,
    );
  }
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    if (!used.has(dep)) notes.push(`dependency "${dep}" is never imported by dist`);
  }
  for (const [dep, range] of Object.entries({ ...pkg.dependencies, ...pkg.peerDependencies })) {
    if (/^(?:workspace|file|link):/.test(String(range)))
      problems.push(`dependency "${dep}" has a local range ${range}`);
  }
  return { name, problems, notes };
}

/** Packs and checks the packages under `root` (all publishable ones, or those in `names`). */
export async function checkPackages(root, { names = [], concurrency = 2 } = {}) {
  const dirs = publishableDirs(root).filter((d) => {
    if (!names.length) return true;
    return names.includes(JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).name);
  });
  const workdir = mkdtempSync(join(tmpdir(), 'trib-pack-check-'));
  try {
    const packed = await packPackages(dirs, join(workdir, 'tarballs'), { concurrency });
    const results = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < packed.length) {
          const p = packed[next++];
          results.push({ ...(await checkPacked(p, join(workdir, 'unpacked'))), files: p.files.length });
        }
      }),
    );
    return results.sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    rmSync(workdir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const started = process.hrtime.bigint();
  const results = await checkPackages(root, { names: args.filter((a) => !a.startsWith('--')) });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (json) console.log(JSON.stringify({ seconds, results }, null, 2));
  else {
    for (const r of results) {
      if (r.problems.length) for (const p of r.problems) console.error(`${r.name}: ${p}`);
      else console.log(`${r.name}: ok (${r.files} files)`);
      for (const n of r.notes) console.log(`${r.name}: note: ${n}`);
    }
    const bad = results.filter((r) => r.problems.length).length;
    console.log(`pack-check: ${results.length - bad} ok, ${bad} with problems, ${seconds.toFixed(1)} s`);
  }
  process.exit(results.some((r) => r.problems.length) ? 1 : 0);
}
