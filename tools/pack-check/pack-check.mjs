#!/usr/bin/env node
// Checks what `npm pack` would publish for each package: only dist/, README.md, LICENSE and
// package.json, with every file the exports map points to present. Run after a build:
//   node tools/pack-check/pack-check.mjs [@tributary/core ...]   (default: every packages/* and plugins/*)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { publishableDirs } from './licenses.mjs';

const ALLOWED = [/^dist\//, /^README\.md$/i, /^LICENSE$/, /^package\.json$/];

function exportTargets(exportsField, out = new Set()) {
  if (typeof exportsField === 'string') out.add(exportsField.replace(/^\.\//, ''));
  else if (exportsField && typeof exportsField === 'object') {
    for (const [k, v] of Object.entries(exportsField)) if (k !== '@tributary/source') exportTargets(v, out);
  }
  return out;
}

/** Problems with one package folder's would-be tarball (empty when it is fine). */
export function checkPack(dir, root) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const raw = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '-w', pkg.name], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const files = JSON.parse(raw)[0].files.map((f) => f.path);
  const problems = [];
  for (const f of files)
    if (!ALLOWED.some((re) => re.test(f))) problems.push(`${pkg.name}: unexpected file in tarball: ${f}`);
  for (const must of ['package.json', 'README.md', 'LICENSE']) {
    if (!files.includes(must)) problems.push(`${pkg.name}: ${must} missing from tarball`);
  }
  const targets = [
    ...exportTargets(pkg.exports ?? {}),
    ...Object.values(pkg.bin ?? {}).map((b) => b.replace(/^\.\//, '')),
  ];
  for (const t of targets)
    if (t !== 'package.json' && !files.includes(t))
      problems.push(`${pkg.name}: exports/bin target ${t} is not in the tarball (built?)`);
  return { name: pkg.name, files, problems };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const wanted = process.argv.slice(2);
  let failed = 0;
  for (const dir of publishableDirs(root)) {
    const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name;
    if (wanted.length && !wanted.includes(name)) continue;
    const r = checkPack(dir, root);
    for (const p of r.problems) console.error(p);
    if (r.problems.length) failed++;
    else console.log(`${name}: ok (${r.files.length} files)`);
  }
  process.exit(failed ? 1 : 0);
}
