import { randomBytes } from 'node:crypto';
import {
  type AuthProvider,
  ErrAuthFailed,
  ErrAuthMechanism,
  type SaslClient,
  type SaslClientOptions,
  type SaslServer,
  type SaslServerOptions,
  type SaslServerStep,
  verifyPassword,
} from '@tributary/core';
import { fakeUserCredential } from './internal/fake-credential.js';

export interface PlainProviderOptions {
  /**
   * Allow PLAIN on a connection that is not secure (cleartext passwords on the wire). Off by
   * default, as on Couchbase Server; old DCP clients that only speak PLAIN need it on plain TCP.
   */
  allowInsecurePlain?: boolean;
  /** Iteration count of the fake credential an unknown user is checked against (default 4096). */
  iterations?: number;
  /** Secret the fake credentials derive from (default: random per provider). */
  serverSecret?: Uint8Array;
}

const MECHANISMS = Object.freeze(['PLAIN']);
const MAX_BYTES = 4096;
const INVALID = 'invalid username or password';
const INSECURE = 'PLAIN is refused on a connection that is not secure (set allowInsecurePlain to allow it)';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isPlain(mechanism: string): boolean {
  return String(mechanism).toUpperCase() === 'PLAIN';
}

/** RFC 4616: message = [authzid] NUL authcid NUL passwd. */
function parse(bytes: Uint8Array): { username: string; password: string } {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes.length > MAX_BYTES)
    throw ErrAuthFailed('malformed PLAIN message');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw ErrAuthFailed('malformed PLAIN message');
  }
  const parts = text.split('\0');
  if (parts.length !== 3) throw ErrAuthFailed('malformed PLAIN message');
  const [authzid, username, password] = parts as [string, string, string];
  if (username.length === 0 || password.length === 0) throw ErrAuthFailed('malformed PLAIN message');
  if (authzid !== '' && authzid !== username)
    throw ErrAuthFailed('authorization identity must match the user');
  return { username, password };
}

class PlainClient implements SaslClient {
  readonly mechanism = 'PLAIN';
  #started = false;
  constructor(
    readonly username: string,
    readonly password: string,
  ) {}
  start(): Uint8Array {
    if (this.#started) throw ErrAuthFailed('start() called twice');
    this.#started = true;
    return new TextEncoder().encode(`\0${this.username}\0${this.password}`);
  }
  step(): Uint8Array {
    throw ErrAuthFailed('PLAIN has no challenge step');
  }
  finish(): void {}
}

class PlainServer implements SaslServer {
  readonly mechanisms: readonly string[];
  #state: 'new' | 'done' | 'failed' = 'new';
  constructor(
    readonly options: SaslServerOptions,
    readonly allowed: boolean,
    readonly secret: Uint8Array,
    readonly iterations: number,
  ) {
    this.mechanisms = allowed ? MECHANISMS : Object.freeze([]);
  }

  async begin(mechanism: string, initialResponse: Uint8Array): Promise<SaslServerStep> {
    if (this.#state !== 'new') throw ErrAuthFailed('begin() called twice');
    this.#state = 'failed';
    if (!isPlain(mechanism)) throw ErrAuthMechanism(String(mechanism), MECHANISMS);
    if (!this.allowed) throw ErrAuthFailed(INSECURE);
    const { username, password } = parse(initialResponse);
    let user: Awaited<ReturnType<SaslServerOptions['credentials']['lookup']>>;
    try {
      user = await this.options.credentials.lookup(username);
    } catch (err) {
      throw ErrAuthFailed('credential lookup failed', { cause: err });
    }
    const known = user !== undefined && Object.keys(user.scram).length > 0;
    // The same PBKDF2 runs for a user who does not exist, against a fake credential.
    const ok = verifyPassword(
      known ? user! : fakeUserCredential(this.secret, username, this.iterations),
      password,
    );
    if (!ok || !known) throw ErrAuthFailed(INVALID);
    this.#state = 'done';
    return { done: true, username };
  }

  async step(): Promise<SaslServerStep> {
    this.#state = 'failed';
    throw ErrAuthFailed('PLAIN has no challenge step');
  }
}

/** SASL PLAIN (RFC 4616). The server verifies with verifyPassword against salted credentials. */
export function createPlainProvider(options: PlainProviderOptions = {}): AuthProvider {
  const allowInsecurePlain = options.allowInsecurePlain ?? false;
  const secret = options.serverSecret ?? randomBytes(32);
  const iterations = options.iterations ?? 4096;
  return {
    name: 'plain',
    mechanisms: MECHANISMS,
    createClient(o: SaslClientOptions): SaslClient {
      if (o.mechanism !== undefined && !isPlain(o.mechanism)) throw ErrAuthMechanism(o.mechanism, MECHANISMS);
      // Never put a cleartext password on an insecure wire unless the application said so.
      if (!o.secure && !allowInsecurePlain) throw ErrAuthFailed(INSECURE);
      return new PlainClient(o.username, o.password);
    },
    createServer(o: SaslServerOptions): SaslServer {
      return new PlainServer(o, o.secure || allowInsecurePlain, secret, iterations);
    },
  };
}
