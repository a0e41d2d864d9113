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

/** X.509 verification results (OpenSSL names, as Node reports them) and Node's host name check. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Alerts from the peer saying it refused our certificate or the handshake (TLS 1.2 and 1.3 spellings). */
const PEER_ALERT =
  /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|UNKNOWN_CA|ACCESS_DENIED|HANDSHAKE_FAILURE|DECRYPT_ERROR|PROTOCOL_VERSION|INSUFFICIENT_SECURITY)$/;

/**
 * Tells a refused TLS handshake from an outage: the first error along `err`'s cause chain whose
 * code is a certificate verification result, Node's host name check or a certificate/access alert
 * from the peer, or undefined. Only those definite signals count; a reset or close during the
 * handshake stays an outage (it is one as often as not).
 */
export function findTlsRejection(err: unknown): { code: string; error: Error } | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CERTIFICATE_CODES.has(code) || PEER_ALERT.test(code)))
      return { code, error: e as Error };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
