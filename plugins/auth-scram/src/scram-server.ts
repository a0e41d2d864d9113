import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  type CredentialSource,
  ErrAuthFailed,
  ErrAuthMechanism,
  nodeHashName,
  type SaslServer,
  type SaslServerStep,
  type ScramCredential,
  type ScramHash,
} from '@tributary/core';
import { fakeScramCredential } from './internal/fake-credential.js';
import {
  decode,
  decodeBase64,
  encode,
  isValidNonce,
  malformed,
  parseAttributes,
  unescapeSaslName,
} from './internal/messages.js';
import { HASH_BYTES, scramHashFor } from './mechanisms.js';

export interface ScramServerOptions {
  credentials: CredentialSource;
  /** Offered mechanism names (Couchbase spelling); IANA spellings are accepted as aliases. */
  mechanisms: readonly string[];
  /** Secret the fake credentials of unknown users derive from. */
  secret: Uint8Array;
  /** Iteration count announced for unknown users (make it match your real credentials). */
  iterations: number;
  nonce: () => string;
}

/** One message the same for every credential failure, so nothing tells users apart. */
const INVALID = 'invalid username or password';

interface Exchange {
  hash: ScramHash;
  username: string;
  known: boolean;
  credential: ScramCredential;
  gs2Header: string;
  nonce: string;
  clientFirstBare: string;
  serverFirst: string;
}

/**
 * The server half of SCRAM. It holds only salted keys (StoredKey, ServerKey); the proof check is
 * H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey, compared in constant time. Every failure
 * is TRIB_AUTH_FAILED, and an unknown user goes through the same steps as a wrong password.
 */
export class ScramServer implements SaslServer {
  readonly mechanisms: readonly string[];
  readonly #o: ScramServerOptions;
  #state: 'new' | 'challenged' | 'done' | 'failed' = 'new';
  #x: Exchange | undefined;

  constructor(options: ScramServerOptions) {
    this.#o = options;
    this.mechanisms = options.mechanisms;
  }

  async begin(mechanism: string, initialResponse: Uint8Array): Promise<SaslServerStep> {
    if (this.#state !== 'new') throw this.#fail('begin() called twice');
    const hash = scramHashFor(String(mechanism));
    if (!hash || !this.mechanisms.some((m) => scramHashFor(m) === hash)) {
      this.#state = 'failed';
      throw ErrAuthMechanism(String(mechanism), this.mechanisms);
    }
    try {
      const text = decode(initialResponse, 'client-first message');
      // gs2-header = cbind-flag "," [authzid] ","
      const c1 = text.indexOf(',');
      const c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
      if (c1 < 0 || c2 < 0) throw malformed('client-first message');
      const flag = text.slice(0, c1);
      if (flag.startsWith('p=')) throw ErrAuthFailed('channel binding is not supported');
      if (flag !== 'n' && flag !== 'y') throw malformed('client-first message');
      const authzidPart = text.slice(c1 + 1, c2);
      if (authzidPart !== '' && !authzidPart.startsWith('a=')) throw malformed('client-first message');
      const gs2Header = text.slice(0, c2 + 1);
      const clientFirstBare = text.slice(c2 + 1);
      const attrs = parseAttributes(clientFirstBare, 'client-first message');
      if (attrs[0]?.[0] === 'm') throw ErrAuthFailed('unsupported mandatory SCRAM extension');
      if (attrs.length < 2 || attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r')
        throw malformed('client-first message');
      const username = unescapeSaslName(attrs[0]![1], 'client-first username');
      if (username.length === 0) throw malformed('client-first username');
      if (authzidPart !== '' && unescapeSaslName(authzidPart.slice(2), 'authzid') !== username) {
        throw ErrAuthFailed('authorization identity must match the user');
      }
      const clientNonce = attrs[1]![1];
      if (!isValidNonce(clientNonce)) throw malformed('client nonce');

      let user: Awaited<ReturnType<CredentialSource['lookup']>>;
      try {
        user = await this.#o.credentials.lookup(username);
      } catch (err) {
        throw ErrAuthFailed('credential lookup failed', { cause: err });
      }
      const real = user?.scram[hash];
      const credential = real ?? fakeScramCredential(this.#o.secret, hash, username, this.#o.iterations);
      const serverNonce = this.#o.nonce();
      if (!isValidNonce(serverNonce)) throw ErrAuthFailed('server nonce generator returned an invalid nonce');
      const nonce = clientNonce + serverNonce;
      const serverFirst = `r=${nonce},s=${Buffer.from(credential.salt).toString('base64')},i=${credential.iterations}`;
      this.#x = {
        hash,
        username,
        known: real !== undefined,
        credential,
        gs2Header,
        nonce,
        clientFirstBare,
        serverFirst,
      };
      this.#state = 'challenged';
      return { done: false, challenge: encode(serverFirst) };
    } catch (err) {
      this.#state = 'failed';
      throw err;
    }
  }

  async step(response: Uint8Array): Promise<SaslServerStep> {
    if (this.#state !== 'challenged') throw this.#fail('step() out of order');
    this.#state = 'failed'; // one attempt per exchange, whatever happens below
    const x = this.#x!;
    this.#x = undefined;
    const text = decode(response, 'client-final message');
    const attrs = parseAttributes(text, 'client-final message');
    if (attrs.length < 3 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r' || attrs.at(-1)![0] !== 'p') {
      throw malformed('client-final message');
    }
    const cbind = decodeBase64(attrs[0]![1], 'channel binding');
    if (cbind.toString('latin1') !== x.gs2Header)
      throw ErrAuthFailed('channel binding does not match the client-first header');
    // A replayed or forged final message carries another exchange's nonce.
    const nonce = Buffer.from(attrs[1]![1]);
    const want = Buffer.from(x.nonce);
    if (nonce.length !== want.length || !timingSafeEqual(nonce, want)) throw ErrAuthFailed('nonce mismatch');
    const proof = decodeBase64(attrs.at(-1)![1], 'client proof');
    if (proof.length !== HASH_BYTES[x.hash]) throw malformed('client proof');

    const h = nodeHashName(x.hash);
    const clientFinalWithoutProof = text.slice(0, text.lastIndexOf(',p='));
    const authMessage = `${x.clientFirstBare},${x.serverFirst},${clientFinalWithoutProof}`;
    const clientSignature = createHmac(h, x.credential.storedKey).update(authMessage).digest();
    for (let i = 0; i < proof.length; i++) proof[i]! ^= clientSignature[i]!; // proof → ClientKey
    const storedKey = createHash(h).update(proof).digest();
    const match = timingSafeEqual(storedKey, x.credential.storedKey);
    if (!match || !x.known) throw ErrAuthFailed(INVALID);
    const serverSignature = createHmac(h, x.credential.serverKey).update(authMessage).digest();
    this.#state = 'done';
    return { done: true, username: x.username, final: encode(`v=${serverSignature.toString('base64')}`) };
  }

  #fail(why: string) {
    this.#state = 'failed';
    return ErrAuthFailed(why);
  }
}
