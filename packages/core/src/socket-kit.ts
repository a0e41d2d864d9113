import type net from 'node:net';
import type { ConnectOptions, Endpoint, Listener } from './contracts/connection-factory.js';
import {
  ErrAborted,
  ErrConnectFailed,
  ErrConnectRefused,
  ErrConnectTimeout,
  type TributaryError,
} from './errors.js';

// Connect/listen plumbing shared by socket-based connection factories (tcp, tls, and third
// parties'): typed TRIB_CONNECT_* errors, timeout and abort, listeners that stop accepting only.

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
      // Socket errors (ECONNRESET, EHOSTUNREACH) may pass; certificate and protocol errors will not.
      return ErrConnectFailed(ep, err.code ? `${err.code}: ${err.message}` : err.message, {
        cause: err,
        retriable: /^E[A-Z]+$/.test(err.code ?? ''),
      });
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

class NetListener implements Listener {
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
      resolve(new NetListener(server, { host: a.address, port: a.port }));
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: endpoint.host, port: endpoint.port, backlog });
  });
}
