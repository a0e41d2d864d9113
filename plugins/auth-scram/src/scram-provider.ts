import { randomBytes } from 'node:crypto';
import {
  type AuthProvider,
  ErrAuthMechanism,
  type SaslClientOptions,
  type SaslServerOptions,
  type ScramHash,
} from '@tributary/core';
import { mechanismFor, SCRAM_MECHANISMS, scramHashFor } from './mechanisms.js';
import { defaultNonce, ScramClient } from './scram-client.js';
import { ScramServer } from './scram-server.js';

export interface ScramProviderOptions {
  /**
   * Iteration count the server announces for users it does not know, so they look like real ones;
   * set it to what your credentials use (default 4096, deriveCredential's default).
   */
  iterations?: number;
  /** Hashes to offer, strongest first (default SHA-512, SHA-256, SHA-1). */
  hashes?: readonly ScramHash[];
  /** Secret for unknown users' fake salts (default: random per provider; pass one to keep them stable across restarts). */
  serverSecret?: Uint8Array;
  /** Client: refuse a server asking for fewer iterations (default 4096). */
  minIterations?: number;
  /** Client: refuse a server asking for more iterations (default 1 000 000). */
  maxIterations?: number;
  /** Nonce generator for both halves; only for reproducing test vectors. */
  nonce?: () => string;
}

/** SCRAM-SHA-512/256/1 (RFC 5802, RFC 7677), spelled as Couchbase does ('SCRAM-SHA512'); IANA spellings accepted. */
export function createScramProvider(options: ScramProviderOptions = {}): AuthProvider {
  const hashes = options.hashes ?? (['SHA-512', 'SHA-256', 'SHA-1'] as const);
  const mechanisms = Object.freeze(
    SCRAM_MECHANISMS.filter((m) => hashes.includes(scramHashFor(m)!)).map((m) => m as string),
  );
  if (mechanisms.length === 0) throw ErrAuthMechanism('(none)', SCRAM_MECHANISMS);
  const iterations = options.iterations ?? 4096;
  const secret = options.serverSecret ?? randomBytes(32);
  const nonce = options.nonce ?? defaultNonce;
  const minIterations = options.minIterations ?? 4096;
  const maxIterations = options.maxIterations ?? 1_000_000;

  return {
    name: 'scram',
    mechanisms,
    createClient(o: SaslClientOptions) {
      const requested = o.mechanism ?? mechanisms[0]!;
      const hash = scramHashFor(requested);
      if (!hash || !hashes.includes(hash)) throw ErrAuthMechanism(requested, mechanisms);
      return new ScramClient({
        mechanism: o.mechanism ?? mechanismFor(hash),
        hash,
        username: o.username,
        password: o.password,
        minIterations,
        maxIterations,
        nonce,
      });
    },
    createServer(o: SaslServerOptions) {
      return new ScramServer({ credentials: o.credentials, mechanisms, secret, iterations, nonce });
    },
  };
}
