import net from 'node:net';
import {
  type Connection,
  type ConnectionFactory,
  type ConnectOptions,
  componentLogger,
  connectWith,
  type Endpoint,
  type Listener,
  type Logger,
  listenOn,
  type MetricsScope,
  nullMetrics,
} from '@tributary/core';
import { ErrTcpListenFailed } from './errors.js';

export interface TcpFactoryOptions {
  /** TCP_NODELAY (default true). */
  noDelay?: boolean;
  /** SO_KEEPALIVE (default true). */
  keepAlive?: boolean;
  /** Idle time before the first keep-alive probe (default 30 000 ms). */
  keepAliveInitialDelayMs?: number;
  /** Connect timeout when `connect()` is given none (default 10 000 ms; 0 disables). */
  connectTimeoutMs?: number;
  /** listen() backlog (default 511). */
  backlog?: number;
  /**
   * Keep the writable side open after the peer ends (true half-close: you may still answer, then
   * must end() yourself). Default false, as node:net: the peer's end closes the connection.
   */
  allowHalfOpen?: boolean;
  logger?: Logger;
  /** Where connect/accept counters go (e.g. `metrics.group('connection-tcp')`). */
  metrics?: MetricsScope;
}

/** A net.Socket is already a Duplex with remoteAddress/remotePort; it only lacks `secure`. */
export function asTcpConnection(socket: net.Socket): Connection {
  if (!Object.hasOwn(socket, 'secure'))
    Object.defineProperty(socket, 'secure', { value: false, enumerable: true });
  return socket as unknown as Connection;
}

/** A connection factory over node:net. Connections are the net.Sockets themselves (`secure: false`). */
export function createTcpFactory(options: TcpFactoryOptions = {}): ConnectionFactory {
  const noDelay = options.noDelay ?? true;
  const keepAlive = options.keepAlive ?? true;
  const keepAliveInitialDelay = options.keepAliveInitialDelayMs ?? 30_000;
  const defaultTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const backlog = options.backlog ?? 511;
  const allowHalfOpen = options.allowHalfOpen ?? false;
  const log = componentLogger(options.logger, 'connection-tcp');
  const metrics = options.metrics ?? nullMetrics();
  const connects = metrics.counter('connects', 'Successful outbound connections');
  const connectFailures = metrics.counter('connect_failures', 'Failed outbound connection attempts');
  const accepted = metrics.counter('accepted', 'Inbound connections accepted');

  return {
    name: 'tcp',
    async connect(endpoint: Endpoint, connectOptions: ConnectOptions = {}): Promise<Connection> {
      try {
        const socket = await connectWith(
          endpoint,
          connectOptions,
          defaultTimeoutMs,
          () =>
            net.connect({
              host: endpoint.host,
              port: endpoint.port,
              noDelay,
              keepAlive,
              keepAliveInitialDelay,
              allowHalfOpen,
            }),
          'connect',
        );
        connects.inc();
        return asTcpConnection(socket);
      } catch (err) {
        connectFailures.inc();
        log.debug({ err, endpoint }, 'connect failed');
        throw err;
      }
    },
    listen(endpoint: Endpoint, onConnection: (connection: Connection) => void): Promise<Listener> {
      const server = net.createServer(
        { noDelay, keepAlive, keepAliveInitialDelay, allowHalfOpen },
        (socket) => {
          accepted.inc();
          try {
            onConnection(asTcpConnection(socket));
          } catch (err) {
            log.error({ err }, 'onConnection threw; destroying the connection');
            socket.destroy();
          }
        },
      );
      server.on('error', (err) => log.error({ err }, 'listener error'));
      return listenOn(server, endpoint, backlog, ErrTcpListenFailed);
    },
  };
}
