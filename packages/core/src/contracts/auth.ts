/**
 * SASL-style authentication, client and server halves. Mechanism names are spelled as Couchbase
 * spells them on the data-node protocol ('SCRAM-SHA512', 'SCRAM-SHA256', 'SCRAM-SHA1', 'PLAIN');
 * providers also accept the IANA spellings ('SCRAM-SHA-512', ...) as aliases.
 */

/** What a server keeps per user: salted SCRAM keys per hash, never the password. */
export interface ScramCredential {
  salt: Uint8Array;
  iterations: number;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

export type ScramHash = 'SHA-1' | 'SHA-256' | 'SHA-512';

export interface UserCredential {
  username: string;
  scram: Partial<Record<ScramHash, ScramCredential>>;
}

export interface CredentialSource {
  lookup(username: string): Promise<UserCredential | undefined> | UserCredential | undefined;
}

export interface SaslClient {
  readonly mechanism: string;
  /** The initial response sent with the AUTH request. */
  start(): Uint8Array;
  /**
   * Answers a server challenge (AUTH_CONTINUE payload) with the next response. Throws
   * TRIB_AUTH_FAILED on a malformed or dishonest challenge.
   */
  step(challenge: Uint8Array): Uint8Array;
  /**
   * Checks the server's final message (for SCRAM `v=<signature>`). Throws TRIB_AUTH_FAILED when
   * the server cannot prove it knows the credential. A no-op for PLAIN.
   */
  finish(serverFinal: Uint8Array): void;
}

export type SaslServerStep =
  | { done: false; challenge: Uint8Array }
  | { done: true; username: string; final?: Uint8Array };

export interface SaslServer {
  readonly mechanisms: readonly string[];
  /** Rejects with TRIB_AUTH_MECHANISM for a mechanism not offered, TRIB_AUTH_FAILED otherwise. */
  begin(mechanism: string, initialResponse: Uint8Array): Promise<SaslServerStep>;
  step(response: Uint8Array): Promise<SaslServerStep>;
}

export interface SaslClientOptions {
  mechanism?: string;
  username: string;
  password: string;
  /** Whether the underlying connection is secure (PLAIN refuses an insecure one unless allowed). */
  secure: boolean;
}

export interface SaslServerOptions {
  credentials: CredentialSource;
  secure: boolean;
}

export interface AuthProvider {
  readonly name: string;
  /** Mechanisms in preference order, strongest first. */
  readonly mechanisms: readonly string[];
  createClient(options: SaslClientOptions): SaslClient;
  createServer(options: SaslServerOptions): SaslServer;
}
