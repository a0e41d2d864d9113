#!/usr/bin/env node
// Writes an MIT LICENSE into every publishable package folder (packages/*, plugins/*) that lacks
// one. Never overwrites. `node tools/pack-check/licenses.mjs [--check]` (--check: exit 1 if any is missing).
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MIT = (year = new Date().getUTCFullYear(), holder = 'The Tributary authors') => `MIT License

Copyright (c) ${year} ${holder}

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

/** Package folders under `root` that get published (packages/*, plugins/* with a package.json). */
export function publishableDirs(root) {
  const out = [];
  for (const group of ['packages', 'plugins']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      const dir = join(base, name);
      if (existsSync(join(dir, 'package.json'))) out.push(dir);
    }
  }
  return out;
}

/** Adds missing LICENSE files; returns the folders it wrote to. */
export function addLicenses(root, { check = false } = {}) {
  const missing = publishableDirs(root).filter((d) => !existsSync(join(d, 'LICENSE')));
  if (!check) for (const d of missing) writeFileSync(join(d, 'LICENSE'), MIT());
  return missing;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const check = process.argv.includes('--check');
  const missing = addLicenses(root, { check });
  for (const d of missing)
    console.log(`${check ? 'missing' : 'wrote'} ${join(d, 'LICENSE').slice(root.length + 1)}`);
  if (check && missing.length) process.exit(1);
}
