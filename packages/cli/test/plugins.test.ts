import { createRegistry } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { FIRST_PARTY_PLUGINS, registerFirstPartyPlugins } from '../src/index.js';

describe('first-party plugins', () => {
  it('every first-party plugin package loads and registers its manifests', { timeout: 60_000 }, async () => {
    const registry = createRegistry();
    const report = await registerFirstPartyPlugins(registry);
    expect(report.skipped).toEqual({});
    expect(Object.keys(report.loaded).sort()).toEqual(Object.keys(FIRST_PARTY_PLUGINS).sort());
    const names = registry.list().map((m) => `${m.kind}/${m.name}`);
    for (const n of [
      'connection-factory/tcp',
      'connection-factory/tls',
      'connection-factory/memory',
      'auth/plain',
      'auth/scram',
    ]) {
      expect(names).toContain(n);
    }
    for (const n of ['store/memory', 'store/lmdb', 'store/redis', 'store/postgres'])
      expect(names).toContain(n);
  });
});
