import { readFileSync } from 'node:fs';
import { type Cluster, startCluster } from '@tributary/cluster';
import type { Logger, Store } from '@tributary/core';
import type { MetricsRegistry } from '@tributary/metrics';
import { createLmdbStore } from '@tributary/store-lmdb';

export interface EmbeddedClusterOptions {
  nodes: number;
  vbuckets: number;
  bucket: string;
  user: { username: string; password: string };
  host: string;
  port: number;
  kvPort: number;
  dataDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsPort?: number;
  /** Offer SASL PLAIN on plain TCP (`--allow-plain`). */
  allowPlain?: boolean;
  logger?: Logger;
  metrics?: MetricsRegistry;
  onError?: (err: unknown) => void;
}

export interface EmbeddedCluster {
  cluster: Cluster;
  store?: Store;
  close(): Promise<void>;
}

/** Starts the embedded cluster the way `serve` and `demo` do. */
export async function startEmbeddedCluster(o: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
  const store = o.dataDir ? createLmdbStore({ path: o.dataDir }) : undefined;
  const tls =
    o.tlsCert && o.tlsKey
      ? {
          cert: readFileSync(o.tlsCert),
          key: readFileSync(o.tlsKey),
          ca: o.tlsCa ? readFileSync(o.tlsCa) : undefined,
          basePort: o.tlsPort ?? 0,
        }
      : undefined;
  let cluster: Cluster;
  try {
    cluster = await startCluster({
      nodes: o.nodes,
      vbuckets: o.vbuckets,
      buckets: [o.bucket],
      users: { [o.user.username]: o.user.password },
      host: o.host,
      basePort: o.port,
      kvBasePort: o.kvPort,
      store,
      tls,
      allowInsecurePlain: o.allowPlain ?? false,
      logger: o.logger,
      metrics: o.metrics,
      onError: o.onError,
    });
  } catch (err) {
    await store?.close();
    throw err;
  }
  return {
    cluster,
    store,
    async close() {
      await cluster.close();
      await store?.close();
    },
  };
}

export function describeCluster(c: Cluster, bucket: string, vbuckets: number): string[] {
  const host = new URL(c.managementUrl).hostname;
  const lines = [
    `cluster ${c.managementUrl} (bucket ${bucket}, ${vbuckets} vbuckets, ${c.nodes.length} node(s))`,
  ];
  for (const n of c.nodes) {
    lines.push(
      `  node ${n.index}: rest http://${host}:${n.mgmtPort}  kv ${host}:${n.kvPort}${n.kvSslPort ? `  kv-tls ${host}:${n.kvSslPort}` : ''}`,
    );
  }
  return lines;
}
