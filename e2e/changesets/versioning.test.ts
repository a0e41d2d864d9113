import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A versioning dry run on a scratch copy of the workspace manifests: a changeset for one package
// bumps that package and the packages that depend on it, and nothing else.
const root = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'trib-changesets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Manifest {
  version: string;
  deps: string[];
  /** Ranges of first-party `dependencies` (not peers). */
  ranges: Map<string, string>;
}

function manifests(dir: string): Map<string, Manifest> {
  const out = new Map<string, Manifest>();
  for (const group of ['packages', 'plugins']) {
    for (const name of readdirSync(join(dir, group))) {
      const pkg = JSON.parse(readFileSync(join(dir, group, name, 'package.json'), 'utf8'));
      const deps = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies }).filter((d) =>
        d.startsWith('@tributary/'),
      );
      const ranges = new Map(
        Object.entries((pkg.dependencies ?? {}) as Record<string, string>).filter(([d]) =>
          d.startsWith('@tributary/'),
        ),
      );
      out.set(pkg.name, { version: pkg.version, deps, ranges });
    }
  }
  return out;
}

describe('changesets versioning dry run', () => {
  it('bumps only the changed package and its dependents', () => {
    // Copy just what changesets reads: root manifest, lock, config and every package manifest.
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(scratch, f));
    cpSync(join(root, '.changeset', 'config.json'), join(scratch, '.changeset', 'config.json'), {
      recursive: true,
    });
    for (const group of ['packages', 'plugins', 'tools', 'e2e']) {
      const base = group === 'e2e' ? [''] : readdirSync(join(root, group));
      for (const name of base) {
        const from = join(root, group, name, 'package.json');
        try {
          cpSync(from, join(scratch, group, name, 'package.json'), { recursive: true });
        } catch {
          // a tools/ folder without a manifest is not a workspace project
        }
      }
    }
    writeFileSync(
      join(scratch, '.changeset', 'codec-dry-run.md'),
      '---\n"@tributary/codec": minor\n---\n\nDry run.\n',
    );
    execFileSync('git', ['init', '-q'], { cwd: scratch });
    execFileSync(process.execPath, [join(root, 'node_modules', '@changesets', 'cli', 'bin.js'), 'version'], {
      cwd: scratch,
      stdio: 'pipe',
      env: { ...process.env, CI: 'true' },
    });
    const before = manifests(root);
    const after = manifests(scratch);
    const bumped = [...after].filter(([n, m]) => m.version !== before.get(n)!.version).map(([n]) => n);

    // Expected: codec (0.1.0 → 0.2.0, which leaves every `^0.1.0` range), and the packages whose
    // `dependencies` name codec: each gets a patch (0.1.x), which stays inside its own dependents'
    // `^0.1.0`, so the bump stops there. Peers (`>=0.1.0`) stay in range and bump nothing.
    const expected = new Set(['@tributary/codec']);
    for (const [n, m] of before) {
      const range = m.ranges.get('@tributary/codec');
      if (range === undefined) continue;
      expect(range).toBe('^0.1.0');
      expected.add(n);
    }
    expect(new Set(bumped)).toEqual(expected);
    // A package that reaches codec only through another package keeps its version.
    const indirect = [...before].filter(
      ([n, m]) => !expected.has(n) && m.deps.some((d) => expected.has(d) && d !== '@tributary/codec'),
    );
    expect(indirect.length).toBeGreaterThan(0);
    for (const [n] of indirect) expect(bumped).not.toContain(n);
    expect(after.get('@tributary/codec')!.version).not.toBe(before.get('@tributary/codec')!.version);
    expect(bumped).not.toContain('@tributary/core');
    expect(bumped).not.toContain('@tributary/store-memory');
  });
});
