import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addLicenses, publishableDirs } from '../licenses.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'licenses-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('licenses', () => {
  it('writes MIT LICENSE files where missing, never overwriting, and --check reports', () => {
    for (const d of ['packages/a', 'packages/b', 'plugins/c', 'tools/t']) {
      mkdirSync(join(tmp, d), { recursive: true });
      writeFileSync(join(tmp, d, 'package.json'), '{}');
    }
    mkdirSync(join(tmp, 'packages/not-a-package'));
    writeFileSync(join(tmp, 'packages/b/LICENSE'), 'custom');
    expect(publishableDirs(tmp).map((d: string) => d.slice(tmp.length + 1))).toEqual([
      'packages/a',
      'packages/b',
      'plugins/c',
    ]);
    expect(addLicenses(tmp, { check: true }).length).toBe(2);
    expect(existsSync(join(tmp, 'packages/a/LICENSE'))).toBe(false);
    expect(addLicenses(tmp).map((d: string) => d.slice(tmp.length + 1))).toEqual(['packages/a', 'plugins/c']);
    expect(readFileSync(join(tmp, 'packages/a/LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
    expect(readFileSync(join(tmp, 'packages/b/LICENSE'), 'utf8')).toBe('custom');
    expect(addLicenses(tmp)).toEqual([]);
    expect(existsSync(join(tmp, 'tools/t/LICENSE'))).toBe(false);
  });

  it('every publishable package in this repository has a LICENSE', () => {
    const root = resolve(__dirname, '../../..');
    expect(addLicenses(root, { check: true }).map((d: string) => d.slice(root.length + 1))).toEqual([]);
  });
});
