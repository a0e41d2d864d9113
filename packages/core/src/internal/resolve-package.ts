import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// Resolves a package specifier the way `import` would from `from` (a directory or a file): walks
// up node_modules folders and reads the package's "exports" with the import conditions. Needed
// because `import()` inside core resolves from core's own location, not the application's, and
// `require.resolve` ignores the "import" condition of import-only packages.
const CONDITIONS = new Set(['import', 'node', 'module-sync', 'default', ...userConditions()]);

/** Conditions the process runs with (`node --conditions=x` / `-C x`, also via NODE_OPTIONS), as import() honours them. */
function userConditions(): string[] {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--conditions=')) out.push(a.slice('--conditions='.length));
    else if ((a === '--conditions' || a === '-C') && args[i + 1]) out.push(args[++i]!);
  }
  return out;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readJson(path: string): Record<string, any> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function pickTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const found = pickTarget(t);
      if (found) return found;
    }
    return undefined;
  }
  if (target && typeof target === 'object') {
    for (const [key, value] of Object.entries(target)) {
      if (!CONDITIONS.has(key)) continue;
      const found = pickTarget(value);
      if (found) return found;
    }
  }
  return undefined;
}

function resolveExports(exportsField: unknown, subpath: string): string | undefined {
  const map =
    typeof exportsField === 'string' ||
    Array.isArray(exportsField) ||
    (exportsField &&
      typeof exportsField === 'object' &&
      !Object.keys(exportsField).some((k) => k.startsWith('.')))
      ? { '.': exportsField }
      : (exportsField as Record<string, unknown>);
  if (subpath in map) return pickTarget(map[subpath]);
  for (const [key, value] of Object.entries(map)) {
    const star = key.indexOf('*');
    if (star < 0) continue;
    const head = key.slice(0, star);
    const tail = key.slice(star + 1);
    if (subpath.startsWith(head) && subpath.endsWith(tail) && subpath.length >= key.length - 1) {
      const t = pickTarget(value);
      return t?.replaceAll('*', subpath.slice(head.length, subpath.length - tail.length));
    }
  }
  return undefined;
}

/** Returns a file URL for `specifier` as resolved from `from`, or throws a plain Error saying why. */
export function resolvePackage(specifier: string, from: string): string {
  if (specifier.startsWith('file:')) return specifier;
  const base = isDir(from) ? resolve(from) : dirname(resolve(from));
  if (specifier.startsWith('.') || specifier.startsWith('/'))
    return pathToFileURL(resolve(base, specifier)).href;
  const parts = specifier.split('/');
  const nameLen = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameLen).join('/');
  const subpath = parts.length > nameLen ? `./${parts.slice(nameLen).join('/')}` : '.';
  let dir = base;
  for (;;) {
    const pkgDir = join(dir, 'node_modules', name);
    const pkg = readJson(join(pkgDir, 'package.json'));
    if (pkg) {
      let target: string;
      if (pkg.exports !== undefined) {
        const found = resolveExports(pkg.exports, subpath);
        if (!found) throw new Error(`package "${name}" does not export "${subpath}" for import`);
        target = found;
      } else {
        target = subpath === '.' ? (pkg.module ?? pkg.main ?? 'index.js') : subpath;
      }
      return pathToFileURL(join(pkgDir, target)).href;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Not in any node_modules above `from`: let Node's CommonJS resolver have the last word
  // (it knows NODE_PATH and global folders) before giving up.
  return pathToFileURL(createRequire(join(base, 'noop.js')).resolve(specifier)).href;
}
