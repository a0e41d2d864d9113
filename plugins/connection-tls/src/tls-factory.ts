import net from 'node:net';
import tls from 'node:tls';
import {
  type Connection,
  type ConnectionFactory,
  type ConnectOptions,
  componentLogger,
  connectWith,
  type Endpoint,
  formatEndpoint,
  type Listener,
  type Logger,
  listenOn,
  type MetricsScope,
  nullMetrics,
} from '@tributary/core';
import { ErrTlsListenFailed } from './errors.js';

type Pem = string | Buffer | (string | Buffer)[];

export interface TlsFactoryOptions {
  /** Trusted CA certificate(s), PEM. Defaults to Node's bundled roots. */
  ca?: Pem;
  /** This side's certificate chain, PEM (required to listen; on the client, for mutual TLS). */
  cert?: Pem;
  /** This side's private key, PEM. */
  key?: Pem;
  /** SNI name and the name the server certificate must carry (default: the endpoint host unless it is an IP). */
  servername?: string;
  /** Refuse peers whose certificate does not verify against `ca` (default true). */
  rejectUnauthorized?: boolean;
  /** Server: ask clients for a certificate (mutual TLS). With `rejectUnauthorized`, require a valid one. */
  requestCert?: boolean;
  /** Minimum protocol (default 'TLSv1.2'). */
  minVersion?: tls.SecureVersion;
  /** Connect timeout (TCP + handshake) when `connect()` is given none (default 10 000 ms; 0 = none). */
  connectTimeoutMs?: number;
  /** Server: drop a client that has not finished its handshake in this time (default 10 000 ms). */
  handshakeTimeoutMs?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelayMs?: number;
  backlog?: number;
  /**
   * Keep the writable side open after the peer ends (true half-close: you may still answer, then
   * must end() yourself). Default false, as node:net: the peer's end closes the connection.
   */
  allowHalfOpen?: boolean;
  logger?: Logger;
  metrics?: MetricsScope;
}

/**
 * `secure` means encrypted and the peer proven: on the client, that the server certificate
 * verified (false after `rejectUnauthorized: false` accepted a bad one); on the server, always
 * true (clients are authenticated by SASL or, with requestCert, by their certificate).
 */
function asTlsConnection(socket: tls.TLSSocket, secure: boolean): Connection {
  if (!Object.hasOwn(socket, 'secure'))
    Object.defineProperty(socket, 'secure', { value: secure, enumerable: true });
  return socket as unknown as Connection;
}

/** A connection factory over node:tls. Connections are the TLSSockets themselves, with `secure: true`. */
export function createTlsFactory(options: TlsFactoryOptions = {}): ConnectionFactory {
  const noDelay = options.noDelay ?? true;
  const keepAlive = options.keepAlive ?? true;
  const keepAliveInitialDelay = options.keepAliveInitialDelayMs ?? 30_000;
  const defaultTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const rejectUnauthorized = options.rejectUnauthorized ?? true;
  const minVersion = options.minVersion ?? 'TLSv1.2';
  const allowHalfOpen = options.allowHalfOpen ?? false;
  const log = componentLogger(options.logger, 'connection-tls');
  const metrics = options.metrics ?? nullMetrics();
  const connects = metrics.counter('connects', 'Successful outbound TLS connections');
  const connectFailures = metrics.counter('connect_failures', 'Failed outbound TLS connection attempts');
  const accepted = metrics.counter('accepted', 'Inbound TLS connections after a good handshake');
  const handshakeFailures = metrics.counter(
    'handshake_failures',
    'Inbound connections that failed the TLS handshake',
  );

  return {
    name: 'tls',
    async connect(endpoint: Endpoint, connectOptions: ConnectOptions = {}): Promise<Connection> {
      const servername = options.servername ?? (net.isIP(endpoint.host) ? undefined : endpoint.host);
      try {
        const socket = await connectWith(
          endpoint,
          connectOptions,
          defaultTimeoutMs,
          () => {
            const s = tls.connect({
              host: endpoint.host,
              port: endpoint.port,
              ca: options.ca,
              cert: options.cert,
              key: options.key,
              servername,
              rejectUnauthorized,
              minVersion,
              // Passed through to the TLSSocket by node:tls, though missing from its typings.
              ...({ allowHalfOpen } as tls.ConnectionOptions),
            });
            s.setNoDelay(noDelay);
            s.setKeepAlive(keepAlive, keepAliveInitialDelay);
            return s;
          },
          'secureConnect',
        );
        connects.inc();
        return asTlsConnection(socket, socket.authorized);
      } catch (err) {
        connectFailures.inc();
        log.debug({ err, endpoint: formatEndpoint(endpoint) }, 'connect failed');
        throw err;
      }
    },
    listen(endpoint: Endpoint, onConnection: (connection: Connection) => void): Promise<Listener> {
      const server = tls.createServer(
        {
          ca: options.ca,
          cert: options.cert,
          key: options.key,
          requestCert: options.requestCert ?? false,
          rejectUnauthorized: options.requestCert ? rejectUnauthorized : false,
          minVersion,
          allowHalfOpen,
          handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
          noDelay,
          keepAlive,
          keepAliveInitialDelay,
        },
        (socket) => {
          accepted.inc();
          try {
            onConnection(asTlsConnection(socket, true));
          } catch (err) {
            log.error({ err }, 'onConnection threw; destroying the connection');
            socket.destroy();
          }
        },
      );
      server.on('tlsClientError', (err) => {
        handshakeFailures.inc();
        log.debug({ err }, 'TLS handshake failed');
      });
      server.on('error', (err) => log.error({ err }, 'listener error'));
      return listenOn(server, endpoint, options.backlog ?? 511, ErrTlsListenFailed);
    },
  };
}
