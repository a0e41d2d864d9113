import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  installApp,
  isInside,
  type Manifest,
  packAll,
  publishable,
  resultOf,
  runCommand,
  runProgram,
} from './packages.js';

// Packages as users install them: every package is packed with `npm pack`, and applications in a
// temporary folder OUTSIDE the workspace install only the tarballs they name (their dependencies
// come along through the manifests; third-party ones from the registry). Small programs then run
// there under plain `node`, as ES modules and as CommonJS. This catches missing dependencies,
// wrong `exports`, files left out of the tarball and entries that need the workspace to load.
const pkgs = publishable();
const manifests = new Map(pkgs.map((p) => [p.manifest.name, p.manifest]));
const names = [...manifests.keys()];
const missingBuild = pkgs
  .filter((p) => !existsSync(join(p.dir, 'dist', 'index.js')))
  .map((p) => p.manifest.name);
if (missingBuild.length) {
  throw new Error(
    `e2e/install needs built packages (no dist/index.js in ${missingBuild.join(', ')}): run \`npx nx run-many -t build\` first (.ci/run does)`,
  );
}

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'trib-install-')));
const apps = {
  transport: join(tmp, 'app-transport'),
  datasource: join(tmp, 'app-datasource'),
  all: join(tmp, 'app-all'),
};
const wanted = {
  transport: ['@tributary/transport', '@tributary/connection-tcp'],
  datasource: ['@tributary/datasource', '@tributary/store-lmdb', '@tributary/cluster'],
  all: names,
};
const installSeconds: Record<string, number> = {};

beforeAll(async () => {
  const tarballs = await packAll(pkgs, join(tmp, 'tarballs'));
  expect([...tarballs.keys()].sort()).toEqual([...names].sort());
  await Promise.all(
    (Object.keys(apps) as (keyof typeof apps)[]).map(async (app) => {
      const r = await installApp(apps[app], wanted[app], tarballs);
      installSeconds[app] = r.seconds;
      cpSync(join(import.meta.dirname, 'fixtures'), apps[app], { recursive: true });
    }),
  );
}, 240_000);

afterAll(() => {
  console.log(`install times (s): ${JSON.stringify(installSeconds)}`);
  rmSync(tmp, { recursive: true, force: true });
});

/** The @tributary packages an install of `roots` must bring: dependencies and required peers, transitively. */
function closure(roots: string[]): string[] {
  const out = new Set<string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    out.add(name);
    const m = manifests.get(name) as Manifest;
    const optional = m.peerDependenciesMeta ?? {};
    for (const dep of Object.keys({ ...m.dependencies })) if (dep.startsWith('@tributary/')) visit(dep);
    for (const dep of Object.keys({ ...m.peerDependencies })) {
      if (dep.startsWith('@tributary/') && !optional[dep]?.optional) visit(dep);
    }
  };
  for (const r of roots) visit(r);
  return [...out].sort();
}

function installed(app: string): string[] {
  return readdirSync(join(app, 'node_modules', '@tributary'))
    .map((n) => `@tributary/${n}`)
    .sort();
}

/** Where a program says a package resolved to: inside the app's node_modules, in dist, the right format. */
function expectResolvedFromApp(app: string, resolved: Record<string, string>, ext: '.js' | '.cjs') {
  for (const [what, where] of Object.entries(resolved)) {
    const path = where.startsWith('file:') ? fileURLToPath(where) : where;
    expect(path, what).toMatch(new RegExp(`/node_modules/@tributary/[a-z-]+/dist/index\\${ext}$`));
    expect(isInside(path, app), `${what} resolved outside the application: ${path}`).toBe(true);
  }
}

describe('@tributary/transport installed on its own (with the TCP connection plugin)', () => {
  it('installs only transport, the TCP plugin and what their manifests name', () => {
    expect(installed(apps.transport)).toEqual(closure(wanted.transport));
    expect(installed(apps.transport)).not.toContain('@tributary/cluster');
  });

  for (const file of ['transport.mjs', 'transport.cjs']) {
    it(`${file}: a mutation stream server and client on 127.0.0.1 deliver every mutation in order, then exit 0`, async () => {
      const r = await runProgram(apps.transport, file);
      const out = resultOf(r);
      expect(r.code, r.stderr).toBe(0);
      expect(out.format).toBe(file.endsWith('.mjs') ? 'esm' : 'cjs');
      expectResolvedFromApp(
        apps.transport,
        out.resolved as Record<string, string>,
        file.endsWith('.mjs') ? '.js' : '.cjs',
      );
      expect(out.exports).toEqual(
        expect.arrayContaining([
          'createMutationStreamClient',
          'createMutationStreamServer',
          'createTransport',
        ]),
      );
      expect(out.received).toBe(out.expected);
      expect(out.expected).toBe(1000);
      expect(out.inOrder).toBe(true);
      expect(out.badValues).toBe(0);
      expect(out.events).toMatchObject({ begin: 4, end: 4, snapshot: 4, error: 0 });
      expect(out.clientStats).toBe(true);
    });
  }
});

describe('@tributary/datasource with @tributary/store-lmdb, streaming from @tributary/cluster', () => {
  it('installs only those three and what their manifests name', () => {
    expect(installed(apps.datasource)).toEqual(closure(wanted.datasource));
  });

  for (const file of ['datasource.mjs', 'datasource.cjs']) {
    it(`${file}: streams the embedded cluster's bucket with checkpoints in LMDB, then exits 0`, async () => {
      const r = await runProgram(apps.datasource, file, [], 90_000);
      const out = resultOf(r);
      expect(r.code, r.stderr).toBe(0);
      expect(out.format).toBe(file.endsWith('.mjs') ? 'esm' : 'cjs');
      expectResolvedFromApp(
        apps.datasource,
        out.resolved as Record<string, string>,
        file.endsWith('.mjs') ? '.js' : '.cjs',
      );
      // The final state of the bucket arrived: every live document with its value, none of the removed.
      expect(out.docs).toBe(out.expectedDocs);
      expect(out.expectedDocs).toBe(100);
      expect(out.wrong).toBe(0);
      expect(out.updates as number).toBeGreaterThanOrEqual(100);
      expect(out.errors).toEqual([]);
      expect(out.totDataChange as number).toBeGreaterThanOrEqual(100);
      // Every vbucket's checkpoint is in LMDB at its high seqno.
      expect(out.vbuckets).toBe(64);
      expect(out.checkpointed).toBe(64);
      expect(out.checkpointRows as number).toBeGreaterThan(0);
      expect(out.highTotal).toBe(120 + 20);
    });
  }
});

describe('every package installed from its tarball', () => {
  it('installs every package, and not vitest (an optional peer of core)', () => {
    expect(installed(apps.all)).toEqual([...names].sort());
    expect(existsSync(join(apps.all, 'node_modules', 'vitest'))).toBe(false);
  });

  const smoke: Record<string, Record<string, unknown>> = {};
  for (const file of ['smoke.mjs', 'smoke.cjs']) {
    it(`${file}: each main entry loads by its public name under plain node, without vitest`, async () => {
      const r = await runProgram(apps.all, file, names);
      const out = resultOf(r);
      smoke[file] = out;
      expect(r.code, r.stderr).toBe(0);
      const packages = out.packages as Record<
        string,
        { ok: boolean; resolved?: string; error?: string; exports?: string[] }
      >;
      const failed = Object.entries(packages)
        .filter(([, p]) => !p.ok)
        .map(([n, p]) => `${n}: ${p.error}`);
      expect(failed).toEqual([]);
      expect(Object.keys(packages).sort()).toEqual([...names].sort());
      for (const [name, p] of Object.entries(packages)) {
        expect(p.exports?.length, `${name} exports nothing`).toBeGreaterThan(0);
        expectResolvedFromApp(
          apps.all,
          { [name]: p.resolved as string },
          file.endsWith('.mjs') ? '.js' : '.cjs',
        );
      }
      // The conformance subpath resolves to its own dist file and, without vitest, says so.
      const conf = out.conformanceResolved as string;
      expect(conf.startsWith('file:') ? fileURLToPath(conf) : conf).toMatch(
        file.endsWith('.mjs')
          ? /\/@tributary\/core\/dist\/conformance\/index\.js$/
          : /\/@tributary\/core\/dist\/conformance\/index\.cjs$/,
      );
      expect(out.conformance).toMatch(/^MODULE_NOT_FOUND|^ERR_MODULE_NOT_FOUND/);
      expect(out.conformance).toContain("'vitest'");
      if (file.endsWith('.cjs')) expect(out.vitestLoaded).toBe(false);
    });
  }

  it('the ESM and CommonJS builds of each package export the same names', () => {
    const esm = smoke['smoke.mjs']?.packages as Record<string, { exports: string[] }> | undefined;
    const cjs = smoke['smoke.cjs']?.packages as Record<string, { exports: string[] }> | undefined;
    expect(esm && cjs, 'both smoke programs ran').toBeTruthy();
    const differ = names.filter(
      (n) => JSON.stringify(esm?.[n]?.exports) !== JSON.stringify(cjs?.[n]?.exports),
    );
    expect(differ).toEqual([]);
  });

  it('the tributary command runs from the installed bin (shebang, executable bit)', async () => {
    const bin = join(apps.all, 'node_modules', '.bin', 'tributary');
    expect(existsSync(bin)).toBe(true);
    const r = await runCommand(apps.all, bin, ['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: tributary/);
  });

  it('ships the package manifests unchanged apart from npm’s own fields', () => {
    for (const name of names) {
      const shipped = JSON.parse(readFileSync(join(apps.all, 'node_modules', name, 'package.json'), 'utf8'));
      const source = manifests.get(name) as Manifest;
      expect(shipped.version, name).toBe(source.version);
      expect(shipped.exports, name).toEqual(source.exports);
      expect(shipped.dependencies ?? {}, name).toEqual(source.dependencies ?? {});
    }
  });
});
