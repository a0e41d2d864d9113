import net from 'node:net';
import {
  type Connection,
  type ConnectionFactory,
  type ConnectOptions,
  componentLogger,
  type Endpoint,
  ErrAborted,
  ErrConnectFailed,
  ErrConnectRefused,
  ErrConnectTimeout,
  type Listener,
  type Logger,
  type MetricsScope,
  nullMetrics,
  type TributaryError,
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

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** Maps a node socket error seen while connecting to the shared TRIB_CONNECT_* codes. */
export function mapConnectError(
  endpoint: Endpoint,
  err: NodeJS.ErrnoException,
  timeoutMs: number,
): TributaryError {
  const ep = formatEndpoint(endpoint);
  switch (err.code) {
    case 'ECONNREFUSED':
      return ErrConnectRefused(ep, { cause: err });
    case 'ETIMEDOUT':
      return ErrConnectTimeout(ep, timeoutMs, { cause: err });
    default:
      return ErrConnectFailed(ep, err.code ?? err.message, { cause: err });
  }
}

/**
 * Runs one connection attempt: `start()` makes the socket, `readyEvent` says it is usable.
 * Timeout and abort destroy the socket and reject with TRIB_CONNECT_TIMEOUT / TRIB_ABORTED.
 * Shared shape with the TLS factory, which waits for 'secureConnect' instead of 'connect'.
 */
export function connectWith<S extends net.Socket>(
  endpoint: Endpoint,
  options: ConnectOptions,
  defaultTimeoutMs: number,
  start: () => S,
  readyEvent: string,
): Promise<S> {
  const { signal } = options;
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const ep = formatEndpoint(endpoint);
  if (signal?.aborted) return Promise.reject(ErrAborted(`connect to ${ep}`, { cause: signal.reason }));
  return new Promise<S>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let socket: S;
    const cleanup = () => {
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.removeListener(readyEvent, onReady);
    };
    const fail = (err: TributaryError) => {
      if (settled) return;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => fail(ErrAborted(`connect to ${ep}`, { cause: signal?.reason }));
    const onError = (err: NodeJS.ErrnoException) => fail(mapConnectError(endpoint, err, timeoutMs));
    const onReady = () => {
      if (settled) return;
      cleanup();
      resolve(socket);
    };
    try {
      socket = start();
    } catch (err) {
      reject(ErrConnectFailed(ep, (err as Error).message, { cause: err }));
      return;
    }
    socket.once('error', onError);
    socket.once(readyEvent, onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs > 0) timer = setTimeout(() => fail(ErrConnectTimeout(ep, timeoutMs)), timeoutMs);
  });
}

class TcpListener implements Listener {
  #closed = false;
  constructor(
    readonly server: net.Server,
    readonly bound: Endpoint,
  ) {}
  address(): Endpoint {
    return this.bound;
  }
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    // Stops accepting at once; 'close' itself would wait for every open connection, which the
    // contract leaves to their owners.
    this.server.close();
    return Promise.resolve();
  }
}

/** Wraps a listening net.Server (or tls.Server) as a Listener, mapping bind errors. */
export function listenOn(
  server: net.Server,
  endpoint: Endpoint,
  backlog: number,
  failed: (ep: string, why: string, opts: { cause: unknown }) => TributaryError,
): Promise<Listener> {
  return new Promise<Listener>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      reject(failed(formatEndpoint(endpoint), err.code ?? err.message, { cause: err }));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      const a = server.address() as net.AddressInfo;
      resolve(new TcpListener(server, { host: a.address, port: a.port }));
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: endpoint.host, port: endpoint.port, backlog });
  });
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
  const connects = metrics.counter('connects', 'successful outbound connections');
  const connectFailures = metrics.counter('connect_failures', 'failed outbound connection attempts');
  const accepted = metrics.counter('accepted', 'inbound connections accepted');

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
