import type { PluginManifest, PluginRegistry } from '@tributary/core';

/**
 * The first-party plugin packages. Loaded lazily (each one only when a command needs plugins),
 * so `tributary --help` never opens lmdb or pg.
 */
export const FIRST_PARTY_PLUGINS: Readonly<
  Record<string, () => Promise<{ plugins?: readonly PluginManifest[] }>>
> = {
  '@tributary/connection-tcp': () => import('@tributary/connection-tcp'),
  '@tributary/connection-tls': () => import('@tributary/connection-tls'),
  '@tributary/connection-memory': () => import('@tributary/connection-memory'),
  '@tributary/auth-plain': () => import('@tributary/auth-plain'),
  '@tributary/auth-scram': () => import('@tributary/auth-scram'),
  '@tributary/store-memory': () => import('@tributary/store-memory'),
  '@tributary/store-lmdb': () => import('@tributary/store-lmdb'),
  '@tributary/store-redis': () => import('@tributary/store-redis'),
  '@tributary/store-postgres': () => import('@tributary/store-postgres'),
};

export interface PluginLoadReport {
  /** Package → names of the manifests it registered. */
  loaded: Record<string, string[]>;
  /** Package → why it registered nothing. */
  skipped: Record<string, string>;
}

/** Registers every manifest from every first-party plugin package that loads. */
export async function registerFirstPartyPlugins(registry: PluginRegistry): Promise<PluginLoadReport> {
  const report: PluginLoadReport = { loaded: {}, skipped: {} };
  const entries = Object.entries(FIRST_PARTY_PLUGINS);
  const modules = await Promise.allSettled(entries.map(([, load]) => load()));
  modules.forEach((m, i) => {
    const pkg = entries[i]![0];
    if (m.status === 'rejected') {
      report.skipped[pkg] = (m.reason as Error)?.message ?? String(m.reason);
      return;
    }
    const list = m.value.plugins;
    if (!Array.isArray(list) || list.length === 0) {
      report.skipped[pkg] = 'exports no `plugins`';
      return;
    }
    for (const manifest of list) registry.register(manifest);
    report.loaded[pkg] = list.map((p) => `${p.kind}/${p.name}`);
  });
  return report;
}
