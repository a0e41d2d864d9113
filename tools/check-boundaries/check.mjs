#!/usr/bin/env node
// Package-boundary check (npm run check:boundaries). Fails when a project
//   - imports another workspace package by anything but its public entry (its "exports" map;
//     e.g. `@tributary/core` and `@tributary/core/conformance`, never `@tributary/codec/src/x`),
//   - imports a relative path that leaves its own project folder,
//   - depends (import or package.json) upward against DESIGN.md's order:
//       core ← codec ← transport/pool ← datasource/cluster ← channel-index ← cli
//     metrics depends on core only (everyone above core may report to it); plugins depend on
//     core only (packages above metrics may use them); tools/* and e2e may depend on anything,
//   - imports a workspace package it does not declare in its package.json,
//   - declares a production dependency that none of its non-test source files imports (an unused
//     dependency makes every user install it; one only tests use belongs in devDependencies).
// Test code (test/, *.test.ts, vitest configs) and devDependencies get one allowance: they may
// use a package on the SAME layer (datasource tests drive the embedded cluster), any plugin,
// and the tools (chaos proxy). Folders named `fixtures` are not scanned.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Layer of each first-party package; a package may depend only on lower layers. */
export const LAYERS = Object.freeze({
  '@tributary/core': 0,
  '@tributary/metrics': 1,
  '@tributary/codec': 2,
  '@tributary/transport': 3,
  '@tributary/pool': 3,
  '@tributary/datasource': 4,
  '@tributary/cluster': 4,
  '@tributary/channel-index': 5,
  '@tributary/cli': 6,
});

/**
 * Same-layer edges the design allows in production code. Transport may draw its connections from
 * the pool (the pool never imports transport, so there is no cycle); nothing uses the edge today.
 */
export const SAME_LAYER_ALLOWED = Object.freeze([['@tributary/transport', '@tributary/pool']]);

const SOURCE_EXT = /\.(?:[cm]?[jt]sx?)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', '.nx', 'coverage', 'fixtures', '.turbo']);

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function expandWorkspaces(root, patterns) {
  const dirs = [];
  for (const pattern of patterns) {
    if (pattern.endsWith('/*')) {
      const parent = join(root, pattern.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const name of readdirSync(parent).sort()) {
        const dir = join(parent, name);
        if (existsSync(join(dir, 'package.json'))) dirs.push(dir);
      }
    } else if (existsSync(join(root, pattern, 'package.json'))) {
      dirs.push(join(root, pattern));
    }
  }
  return dirs;
}

/** Every workspace project: name, folder, kind (core|metrics|package|plugin|tool|e2e) and deps. */
export function discoverProjects(root) {
  const rootPkg = readJson(join(root, 'package.json'));
  const patterns = Array.isArray(rootPkg.workspaces)
    ? rootPkg.workspaces
    : (rootPkg.workspaces?.packages ?? []);
  return expandWorkspaces(root, patterns).map((dir) => {
    const pkg = readJson(join(dir, 'package.json'));
    const rel = relative(root, dir).split(sep).join('/');
    let kind = 'package';
    if (rel.startsWith('plugins/')) kind = 'plugin';
    else if (rel.startsWith('tools/')) kind = 'tool';
    else if (rel === 'e2e' || rel.startsWith('e2e/')) kind = 'e2e';
    else if (pkg.name === '@tributary/core') kind = 'core';
    else if (pkg.name === '@tributary/metrics') kind = 'metrics';
    return {
      name: pkg.name,
      dir,
      rel,
      kind,
      exports: pkg.exports,
      prodDeps: { ...pkg.dependencies, ...pkg.peerDependencies },
      deps: { ...pkg.dependencies },
      devDeps: { ...pkg.devDependencies },
    };
  });
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (SKIP_DIRS.has(entry.name) || entry.name.startsWith('.')) continue;
      yield* walk(join(dir, entry.name));
    } else if (SOURCE_EXT.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      yield join(dir, entry.name);
    }
  }
}

/** True for files that only tests run: test/, *.test.*, *.bench.*, vitest/playwright configs. */
export function isTestFile(relToProject) {
  const p = relToProject.split(sep).join('/');
  return (
    p.startsWith('test/') ||
    p.includes('/test/') ||
    p.includes('/__tests__/') ||
    /\.(test|spec|test-d|bench)\.[cm]?[jt]sx?$/.test(p) ||
    /^vitest\.[^/]*config\.[cm]?[jt]s$/.test(p) ||
    /^vitest\.config\.[cm]?[jt]s$/.test(p)
  );
}

const SPECIFIER_BEFORE = /(?:\bfrom|\bimport|\bimport\s*\(|\brequire(?:\.resolve)?\s*\(|\bvi\.mock\s*\()\s*$/;

// Blanks comments, template-literal text and strings that cannot be module specifiers (data, e.g. code a generator writes) while keeping
// every newline, so import specifiers keep their line numbers.
function stripComments(text) {
  let out = '';
  const stack = []; // brace depths of `${` expressions we are inside, innermost last
  let depth = 0;
  let i = 0;
  const blank = (from, to) => {
    out += text.slice(from, to).replace(/[^\n]/g, ' ');
  };
  let inTemplate = false;
  while (i < text.length) {
    const c = text[i];
    if (inTemplate) {
      const start = i;
      while (i < text.length && text[i] !== '`' && !(text[i] === '$' && text[i + 1] === '{'))
        i += text[i] === '\\' ? 2 : 1;
      blank(start, i);
      if (text[i] === '`') {
        out += '`';
        i++;
        inTemplate = false;
      } else if (i < text.length) {
        out += '${';
        i += 2;
        stack.push(depth);
        depth = 0;
        inTemplate = false;
      }
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      blank(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      // Keep a string only where a module specifier can stand; other strings are data.
      if (SPECIFIER_BEFORE.test(out.slice(-40))) out += text.slice(i, j + 1);
      else {
        out += c;
        blank(i + 1, j);
        out += text.slice(j, j + 1);
      }
      i = j + 1;
    } else if (c === '`') {
      out += '`';
      i++;
      inTemplate = true;
    } else {
      if (c === '{') depth++;
      else if (c === '}') {
        if (depth === 0 && stack.length) {
          depth = stack.pop();
          out += '}';
          i++;
          inTemplate = true;
          continue;
        }
        depth--;
      }
      out += c;
      i++;
    }
  }
  return out;
}

const IMPORT_RES = [
  /(?<![\w$.'"`])import\s+(?:type\s+)?[\w*{}\s,$]*?\s*from\s*(['"])([^'"\n]+)\1/g,
  /(?<![\w$.'"`])export\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(['"])([^'"\n]+)\1/g,
  /(?<![\w$.'"`])import\s*(['"])([^'"\n]+)\1/g,
  /(?<![\w$.'"`])import\s*\(\s*(['"])([^'"\n]+)\1\s*[,)]/g,
  /(?<![\w$.'"`])require(?:\.resolve)?\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
  /(?<![\w$.'"`])vi\.mock\s*\(\s*(['"])([^'"\n]+)\1/g,
];

/** Every static module specifier in `text`, with its 1-based line. */
export function findImports(text) {
  const clean = stripComments(text);
  const found = new Map();
  for (const re of IMPORT_RES) {
    re.lastIndex = 0;
    for (let m = re.exec(clean); m; m = re.exec(clean)) {
      const at = m.index + m[0].lastIndexOf(m[2]);
      if (found.has(at)) continue;
      const line = clean.slice(0, at).split('\n').length;
      found.set(at, { specifier: m[2], line });
    }
  }
  return [...found.values()].sort((a, b) => a.line - b.line);
}

function exportedSubpaths(exportsField) {
  if (exportsField === undefined) return null; // no map: only the bare name counts as public
  if (typeof exportsField === 'string' || Array.isArray(exportsField)) return new Set(['.']);
  const keys = Object.keys(exportsField);
  if (!keys.some((k) => k.startsWith('.'))) return new Set(['.']);
  return new Set(keys);
}

function subpathAllowed(target, subpath) {
  if (subpath === '.') return true;
  const keys = exportedSubpaths(target.exports);
  if (!keys) return false;
  if (keys.has(subpath)) return true;
  for (const k of keys) {
    const star = k.indexOf('*');
    if (star >= 0 && subpath.startsWith(k.slice(0, star)) && subpath.endsWith(k.slice(star + 1))) return true;
  }
  return false;
}

/**
 * Why `from` may not depend on `to` in this context ('prod' or 'test'), or null when allowed.
 */
export function edgeProblem(from, to, context) {
  if (from.name === to.name) return null;
  if (from.kind === 'tool' || from.kind === 'e2e') return null;
  const test = context === 'test';
  if (to.kind === 'tool' || to.kind === 'e2e') {
    return test ? null : `${from.name} must not depend on ${to.rel} (tools and e2e are for tests only)`;
  }
  if (from.kind === 'plugin') {
    if (to.kind === 'core') return null;
    if (test && (to.kind === 'plugin' || to.kind === 'metrics')) return null;
    return `plugin ${from.name} may depend on @tributary/core only, not ${to.name}`;
  }
  if (from.kind === 'core') {
    return test && to.kind === 'plugin' ? null : `@tributary/core must not depend on ${to.name}`;
  }
  if (from.kind === 'metrics') {
    if (to.kind === 'core') return null;
    return `@tributary/metrics may depend on @tributary/core only, not ${to.name}`;
  }
  // from: a layered package
  if (to.kind === 'plugin') return null;
  const a = LAYERS[from.name];
  const b = LAYERS[to.name];
  if (a === undefined) return `${from.name} is not in the layer map of tools/check-boundaries/check.mjs`;
  if (b === undefined) return `${to.name} is not in the layer map of tools/check-boundaries/check.mjs`;
  if (b < a || (test && b === a)) return null;
  if (b === a && SAME_LAYER_ALLOWED.some(([x, y]) => x === from.name && y === to.name)) return null;
  return `${from.name} (layer ${a}) must not depend on ${to.name} (layer ${b}): dependencies go downward only (core ← codec ← transport/pool ← datasource/cluster ← channel-index ← cli)`;
}

function splitSpecifier(spec) {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  return {
    name: parts.slice(0, n).join('/'),
    subpath: parts.length > n ? `./${parts.slice(n).join('/')}` : '.',
  };
}

/** Runs every check over the workspace at `root`; returns violations and counts. */
export function checkBoundaries(root) {
  root = resolve(root);
  const projects = discoverProjects(root);
  const byName = new Map(projects.map((p) => [p.name, p]));
  const violations = [];
  let files = 0;
  const add = (file, line, message) =>
    violations.push({ file: relative(root, file).split(sep).join('/'), line, message });

  for (const project of projects) {
    const pkgFile = join(project.dir, 'package.json');
    for (const [deps, context] of [
      [project.prodDeps, 'prod'],
      [project.devDeps, 'test'],
    ]) {
      for (const dep of Object.keys(deps)) {
        const target = byName.get(dep);
        if (!target) continue;
        const why = edgeProblem(project, target, context);
        if (why) add(pkgFile, 1, `${context === 'prod' ? 'dependency' : 'devDependency'} ${dep}: ${why}`);
      }
    }
    const declared = new Set([...Object.keys(project.prodDeps), ...Object.keys(project.devDeps)]);
    const importedByProd = new Set();

    for (const file of walk(project.dir)) {
      files++;
      const relFile = relative(project.dir, file);
      const context = isTestFile(relFile) ? 'test' : 'prod';
      const text = readFileSync(file, 'utf8');
      for (const { specifier, line } of findImports(text)) {
        if (specifier.startsWith('.')) {
          const target = resolve(dirname(file), specifier);
          const inside = target === project.dir || target.startsWith(project.dir + sep);
          // Shared files at the workspace root (vitest.shared.ts, ...) are not any project's internals.
          const rootShared = dirname(target) === root;
          if (!inside && !rootShared) {
            const into = projects.find((p) => target === p.dir || target.startsWith(p.dir + sep));
            add(
              file,
              line,
              into
                ? `relative import "${specifier}" reaches into ${into.name}; import it by its public name`
                : `relative import "${specifier}" leaves ${project.rel}`,
            );
          }
          continue;
        }
        if (specifier.startsWith('/') || specifier.startsWith('file:')) {
          const path = specifier.startsWith('file:') ? fileURLToPath(specifier) : specifier;
          const into = projects.find(
            (p) => p !== project && (path === p.dir || path.startsWith(p.dir + sep)),
          );
          if (into) add(file, line, `absolute import "${specifier}" reaches into ${into.name}`);
          continue;
        }
        const { name, subpath } = splitSpecifier(specifier);
        if (context === 'prod') importedByProd.add(name);
        const target = byName.get(name);
        if (!target) continue;
        if (!subpathAllowed(target, subpath)) {
          add(
            file,
            line,
            `"${specifier}" is not a public entry of ${name} (its package.json "exports" has no "${subpath}")`,
          );
        }
        if (target !== project && !declared.has(name)) {
          add(file, line, `imports ${name} but ${project.rel}/package.json does not declare it`);
        } else if (target !== project && context === 'prod' && !(name in project.prodDeps)) {
          add(file, line, `source imports ${name}, which is only a devDependency of ${project.name}`);
        }
        const why = edgeProblem(project, target, context);
        if (why) add(file, line, why);
      }
    }
    if (project.kind !== 'tool' && project.kind !== 'e2e') {
      for (const dep of Object.keys(project.deps)) {
        if (importedByProd.has(dep) || dep.startsWith('@types/')) continue;
        add(
          pkgFile,
          1,
          `dependency ${dep} is not imported by any source file of ${project.name}; remove it, or move it to devDependencies if only tests use it`,
        );
      }
    }
  }
  return { projects: projects.length, files, violations };
}

function main() {
  const here = dirname(fileURLToPath(import.meta.url));
  const args = process.argv.slice(2);
  const rootArg = args.indexOf('--root');
  const root = rootArg >= 0 ? resolve(args[rootArg + 1]) : resolve(here, '../..');
  const { projects, files, violations } = checkBoundaries(root);
  for (const v of violations) console.error(`${v.file}:${v.line}: ${v.message}`);
  if (violations.length) {
    console.error(
      `check-boundaries: ${violations.length} violation(s) in ${projects} projects (${files} files)`,
    );
    process.exit(1);
  }
  console.log(`check-boundaries: ok (${projects} projects, ${files} files)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
