// A connection-factory plugin in one file: node:net sockets through core's socket kit, which
// brings the contract's timeout, abort and TRIB_CONNECT_* errors.
import net from 'node:net';
import {
  type Connection,
  type ConnectionFactory,
  connectWith,
  definePlugin,
  ErrConnectFailed,
  listenOn,
  optionsParser,
} from '@tributary/core';
import { z } from 'zod';

/** A socket is already a Duplex with remoteAddress/remotePort; the contract adds `secure`. */
const asConnection = (socket: net.Socket): Connection =>
  Object.assign(socket, { secure: false }) as unknown as Connection;

export function createNetFactory(options: { connectTimeoutMs?: number } = {}): ConnectionFactory {
  return {
    name: 'net',
    async connect(endpoint, connectOptions = {}) {
      const socket = await connectWith(
        endpoint,
        connectOptions, // signal, timeoutMs
        options.connectTimeoutMs ?? 10_000,
        () => net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true }),
        'connect', // the event that makes the socket usable ('secureConnect' for TLS)
      );
      return asConnection(socket);
    },
    listen(endpoint, onConnection) {
      const server = net.createServer({ noDelay: true }, (socket) => onConnection(asConnection(socket)));
      return listenOn(server, endpoint, 511, ErrConnectFailed); // port 0: address() has the real one
    },
  };
}

const Options = z.object({ connectTimeoutMs: z.number().int().nonnegative().default(10_000) }).strict();

export const plugin = definePlugin<'connection-factory', z.infer<typeof Options>>({
  kind: 'connection-factory',
  name: 'net',
  apiVersion: 1,
  parseOptions: optionsParser('net', Options),
  create: (options) => createNetFactory(options),
});

export const plugins = [plugin];
