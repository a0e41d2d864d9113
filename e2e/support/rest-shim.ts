// The embedded cluster advertises only its own host and ports (no alternate addresses), so to put
// a chaos proxy on the datasource ↔ data node links we put one proxy in front of each node's KV
// port and serve the cluster map through this small REST shim, which rewrites the KV ports in it
// to the proxies' ports. The datasource is pointed at the shim (streaming config off).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ChaosProxy, startChaosProxy } from '@tributary/chaos-proxy';
import type { Cluster } from '@tributary/cluster';

export interface ProxiedCluster {
  url: string;
  proxies: ChaosProxy[];
  close(): Promise<void>;
}

export async function proxyDataNodes(cluster: Cluster): Promise<ProxiedCluster> {
  const proxies: ChaosProxy[] = [];
  for (const n of cluster.nodes)
    proxies.push(await startChaosProxy({ target: { host: '127.0.0.1', port: n.kvPort } }));
  const rewrite = (text: string) => {
    cluster.nodes.forEach((n, i) => {
      const p = proxies[i]!.address().port;
      text = text.replaceAll(`"kv":${n.kvPort}`, `"kv":${p}`).replaceAll(`:${n.kvPort}"`, `:${p}"`);
    });
    return text;
  };
  const server = http.createServer(async (req, res) => {
    try {
      const upstream = await fetch(`${cluster.managementUrl}${req.url}`, {
        headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
      });
      const body = await upstream.text();
      res.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
      });
      res.end(rewrite(body));
    } catch (err) {
      res.writeHead(502);
      res.end(String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    proxies,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      for (const p of proxies) await p.close();
    },
  };
}
