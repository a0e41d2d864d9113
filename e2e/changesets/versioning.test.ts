import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import semver from 'semver';
import { afterAll, describe, expect, it } from 'vitest';

// Versioning dry runs on scratch copies of the workspace manifests: `changeset version` with one
// changeset, then the manifests compared with the workspace's.
const root = join(import.meta.dirname, '..', '..');
const scratches: string[] = [];
afterAll(() => {
  for (const dir of scratches) rmSync(dir, { recursive: true, force: true });
});

interface Manifest {
  version: string;
  deps: string[];
  /** Ranges of first-party `dependencies` (not peers). */
  ranges: Map<string, string>;
  /** Ranges of first-party `peerDependencies`. */
  peers: Map<string, string>;
  dir: string;
}

const firstParty = (o: Record<string, string> | undefined) =>
  new Map(Object.entries(o ?? {}).filter(([d]) => d.startsWith('@tributary/')));

function manifests(dir: string): Map<string, Manifest> {
  const out = new Map<string, Manifest>();
  for (const group of ['packages', 'plugins']) {
    for (const name of readdirSync(join(dir, group))) {
      const pkg = JSON.parse(readFileSync(join(dir, group, name, 'package.json'), 'utf8'));
      const ranges = firstParty(pkg.dependencies);
      const peers = firstParty(pkg.peerDependencies);
      out.set(pkg.name, {
        version: pkg.version,
        deps: [...ranges.keys(), ...peers.keys()],
        ranges,
        peers,
        dir: group,
      });
    }
  }
  return out;
}

/** Runs `changeset version` with one changeset on a scratch copy; returns the manifests before and after. */
function versionWith(changeset: string) {
  const scratch = mkdtempSync(join(tmpdir(), 'trib-changesets-'));
  scratches.push(scratch);
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
  writeFileSync(join(scratch, '.changeset', 'dry-run.md'), `---\n${changeset}\n---\n\nDry run.\n`);
  execFileSync('git', ['init', '-q'], { cwd: scratch });
  execFileSync(process.execPath, [join(root, 'node_modules', '@changesets', 'cli', 'bin.js'), 'version'], {
    cwd: scratch,
    stdio: 'pipe',
    env: { ...process.env, CI: 'true' },
  });
  const before = manifests(root);
  const after = manifests(scratch);
  const bumped = [...after].filter(([n, m]) => m.version !== before.get(n)!.version).map(([n]) => n);
  return { before, after, bumped };
}

describe('changesets versioning dry run', () => {
  it('reads the experimental option under the key @changesets 2.31 reads', () => {
    const config = JSON.parse(readFileSync(join(root, '.changeset', 'config.json'), 'utf8'));
    // @changesets/config 3.x reads only this key; any other spelling is silently ignored.
    expect(config.___experimentalUnsafeOptions_WILL_CHANGE_IN_PATCH).toEqual({
      onlyUpdatePeerDependentsWhenOutOfRange: true,
    });
    expect(Object.keys(config).filter((k) => k.startsWith('___'))).toEqual([
      '___experimentalUnsafeOptions_WILL_CHANGE_IN_PATCH',
    ]);
  });

  it('bumps only the changed package and its dependents', () => {
    const { before, after, bumped } = versionWith('"@tributary/codec": minor');

    // Expected: codec (0.1.0 → 0.2.0, which leaves every `^0.1.0` range), and the packages whose
    // `dependencies` name codec: each gets a patch (0.1.x), which stays inside its own dependents'
    // `^0.1.0`, so the bump stops there.
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

  it('a core minor leaves every plugin on its version: the peer range on core stays bounded and in range', () => {
    const { before, after, bumped } = versionWith('"@tributary/core": minor');
    const core = after.get('@tributary/core')!.version;
    expect(core).toBe(semver.inc(before.get('@tributary/core')!.version, 'minor'));
    const plugins = [...before].filter(([, m]) => m.dir === 'plugins');
    expect(plugins.length).toBe(9);
    for (const [name, m] of plugins) {
      const peer = m.peers.get('@tributary/core');
      expect(peer, name).toBeDefined();
      // Bounded: no next major of core satisfies it, so a breaking core is never allowed in.
      expect(semver.satisfies('1.0.0', peer!), `${name} peer ${peer}`).toBe(false);
      expect(semver.satisfies(core, peer!), `${name} peer ${peer} with core ${core}`).toBe(true);
      // In range, so no bump at all (a 1.0.0 for every plugin was what an ignored option gave).
      expect(after.get(name)!.version, name).toBe(m.version);
      expect(after.get(name)!.peers.get('@tributary/core'), name).toBe(peer);
    }
    // Packages with core in their `dependencies` (`^0.1.0`, left by 0.2.0) get a patch and the new range.
    for (const [name, m] of before) {
      if (!m.ranges.has('@tributary/core')) continue;
      expect(after.get(name)!.version, name).toBe(semver.inc(m.version, 'patch'));
      expect(after.get(name)!.ranges.get('@tributary/core'), name).toBe(`^${core}`);
    }
    for (const name of bumped) expect(semver.major(after.get(name)!.version), name).toBe(0);
  });
});
