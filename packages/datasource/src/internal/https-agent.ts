// Cluster-map requests to https URLs connect through the tls connection factory, so REST and the
// data nodes share one TLS setup (CA, client certificate, servername) and one error shape.
import type { Socket } from 'node:net';
import type { ConnectionFactory } from '@tributary/core';
import { Agent } from 'undici';

/** An undici Agent whose sockets come from `factory` (which must hand out node sockets, as connection-tls does). */
export function factoryAgent(factory: ConnectionFactory, timeoutMs: number): Agent {
  return new Agent({
    connect: (opts, cb) => {
      const host = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
      factory.connect({ host, port: Number(opts.port) || 443 }, { timeoutMs }).then(
        (conn) => cb(null, conn as unknown as Socket),
        (err: Error) => cb(err, null),
      );
    },
  });
}
