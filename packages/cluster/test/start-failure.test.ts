import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startCluster } from '../src/index.js';

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise((r) => s.close(r));

describe('a cluster that cannot start', () => {
  it('releases the ports it did bind (KV before a taken REST port), so nothing keeps the process up', async () => {
    const taken = await listen();
    // A free port for KV: bound, read, released.
    const probe = await listen();
    const kvPort = portOf(probe);
    await close(probe);
    try {
      await expect(
        startCluster({
          vbuckets: 4,
          buckets: ['b'],
          users: { u: 'p' },
          basePort: portOf(taken),
          kvBasePort: kvPort,
        }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
      // The KV port the failed start bound is free again.
      const again = await listen(kvPort);
      await close(again);
    } finally {
      await close(taken);
    }
  });
});
