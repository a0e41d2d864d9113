import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, isTributaryError } from '@tributary/core';
import { runConnectionFactoryConformance, runStoreConformance } from '@tributary/core/conformance';
import { describe, expect, it } from 'vitest';

// A third party's plugin package, installed in an application folder OUTSIDE the workspace, is
// found by name, registers through the registry and passes the same conformance kits as ours.
const workspace = join(import.meta.dirname, '..', '..');
const coreDist = join(workspace, 'packages', 'core', 'dist', 'index.js');
if (!existsSync(coreDist)) {
  throw new Error(
    'e2e/third-party needs built packages: run `npx nx run-many -t build` first (.ci/run does)',
  );
}

const app = realpathSync(mkdtempSync(join(tmpdir(), 'trib-third-party-app-')));
const modules = join(app, 'node_modules');
mkdirSync(join(modules, '@tributary'), { recursive: true });
cpSync(join(import.meta.dirname, 'fixture'), join(modules, 'acme-tributary-plugins'), { recursive: true });
// Core as a user installs it: its dist and a manifest without the workspace-only source condition.
// (It is a second copy of core beside the test's own: the plugin brand must survive that.)
const coreDir = join(modules, '@tributary', 'core');
cpSync(join(workspace, 'packages', 'core', 'dist'), join(coreDir, 'dist'), { recursive: true });
const manifest = JSON.parse(readFileSync(join(workspace, 'packages', 'core', 'package.json'), 'utf8'));
for (const entry of Object.values(manifest.exports) as Record<string, unknown>[]) {
  if (typeof entry === 'object') delete entry['@tributary/source'];
}
writeFileSync(join(coreDir, 'package.json'), JSON.stringify(manifest));
for (const dep of ['zod', 'pino'])
  symlinkSync(realpathSync(join(workspace, 'node_modules', dep)), join(modules, dep), 'dir');

const registry = createRegistry();
const loaded = await registry.load('acme-tributary-plugins', { from: `${app}/` });
let namespace = 0;

describe('third-party plugin package', () => {
  it('registers every manifest it exports, by kind and name', () => {
    expect(loaded.map((m) => `${m.kind}:${m.name}`).sort()).toEqual([
      'connection-factory:acme-tcp',
      'store:acme-array',
    ]);
    expect(registry.list('store').map((m) => m.name)).toEqual(['acme-array']);
  });

  it('gets its options validated by the registry', async () => {
    const err = await registry.create('store', 'acme-array', { namespace: '' }).catch((e) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
    expect(err.message).toContain('namespace');
  });

  it('refuses to load a package twice (duplicate names)', async () => {
    const err = await registry.load('acme-tributary-plugins', { from: `${app}/` }).catch((e) => e);
    expect(isTributaryError(err, 'TRIB_PLUGIN_DUPLICATE')).toBe(true);
  });
});

runStoreConformance('third-party acme-array', {
  open: async () => {
    namespace++;
    return registry.create('store', 'acme-array', { namespace: `ns${namespace}` });
  },
  reopen: async () => registry.create('store', 'acme-array', { namespace: `ns${namespace}` }),
});

runConnectionFactoryConformance('third-party acme-tcp', {
  create: () => registry.create('connection-factory', 'acme-tcp', {}),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
});
