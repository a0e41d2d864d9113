import type { Duplex } from 'node:stream';

/** Where to connect or listen. For the memory factory `host` is a name and `port` a number in that namespace. */
export interface Endpoint {
  host: string;
  port: number;
}

/**
 * A connected byte stream. It is a node Duplex, so `write()` returning false and 'drain' are the
 * back-pressure signal, `end()` half-closes and `destroy()` resets.
 */
export interface Connection extends Duplex {
  /** True when bytes are encrypted and the peer authenticated (TLS). PLAIN SASL checks this. */
  readonly secure: boolean;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

export interface ConnectOptions {
  signal?: AbortSignal;
  /** Fails with TRIB_CONNECT_TIMEOUT when not connected in time. */
  timeoutMs?: number;
}

export interface Listener {
  /** The real bound endpoint (port 0 resolved). */
  address(): Endpoint;
  /** Stops accepting; open connections are left to their owners. */
  close(): Promise<void>;
}

export interface ConnectionFactory {
  readonly name: string;
  /** Rejects with TRIB_CONNECT_REFUSED, TRIB_CONNECT_TIMEOUT, TRIB_ABORTED or TRIB_CONNECT_FAILED. */
  connect(endpoint: Endpoint, options?: ConnectOptions): Promise<Connection>;
  listen(endpoint: Endpoint, onConnection: (connection: Connection) => void): Promise<Listener>;
}
