import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrAuthFailed, nodeHashName, type SaslClient, type ScramHash, scramKeys } from '@tributary/core';
import {
  decode,
  decodeBase64,
  encode,
  escapeSaslName,
  isValidNonce,
  malformed,
  parseAttributes,
  xor,
} from './internal/messages.js';

export interface ScramClientOptions {
  mechanism: string;
  hash: ScramHash;
  username: string;
  password: string;
  /** Refuse a server asking for fewer PBKDF2 iterations than this (default 4096, RFC 7677's minimum). */
  minIterations: number;
  /** Refuse a server asking for more (a cheap denial of service on the client; default 1 000 000). */
  maxIterations: number;
  /** Makes the client nonce; tests pass a fixed one to reproduce the RFC vectors. */
  nonce: () => string;
}

type State = 'new' | 'started' | 'stepped' | 'finished' | 'failed';

/** The client half of SCRAM (RFC 5802 / 7677), without channel binding (gs2 header "n,,"). */
export class ScramClient implements SaslClient {
  readonly mechanism: string;
  readonly #o: ScramClientOptions;
  #state: State = 'new';
  #clientNonce = '';
  #clientFirstBare = '';
  #expectedServerSignature: Buffer | undefined;

  constructor(options: ScramClientOptions) {
    this.mechanism = options.mechanism;
    this.#o = options;
  }

  start(): Uint8Array {
    if (this.#state !== 'new') throw this.#fail('start() called twice');
    const nonce = this.#o.nonce();
    if (!isValidNonce(nonce)) throw this.#fail('the client nonce has characters SCRAM does not allow');
    this.#clientNonce = nonce;
    this.#clientFirstBare = `n=${escapeSaslName(this.#o.username)},r=${nonce}`;
    this.#state = 'started';
    return encode(`n,,${this.#clientFirstBare}`);
  }

  step(challenge: Uint8Array): Uint8Array {
    if (this.#state !== 'started') throw this.#fail('step() out of order');
    try {
      const serverFirst = decode(challenge, 'server-first message');
      const attrs = parseAttributes(serverFirst, 'server-first message');
      if (attrs[0]?.[0] === 'e') throw ErrAuthFailed(`server error: ${attrs[0][1]}`);
      if (attrs[0]?.[0] === 'm') throw ErrAuthFailed('server requires an unsupported SCRAM extension');
      if (attrs.length < 3 || attrs[0]![0] !== 'r' || attrs[1]![0] !== 's' || attrs[2]![0] !== 'i') {
        throw malformed('server-first message');
      }
      const nonce = attrs[0]![1];
      // The server must extend our nonce, not replace it (a replayed or forged challenge otherwise).
      if (
        !isValidNonce(nonce) ||
        !nonce.startsWith(this.#clientNonce) ||
        nonce.length <= this.#clientNonce.length
      ) {
        throw ErrAuthFailed('server nonce does not extend the client nonce');
      }
      const salt = decodeBase64(attrs[1]![1], 'server-first salt');
      const iterText = attrs[2]![1];
      if (!/^[1-9][0-9]{0,9}$/.test(iterText)) throw malformed('server-first iteration count');
      const iterations = Number(iterText);
      if (iterations < this.#o.minIterations || iterations > this.#o.maxIterations) {
        throw ErrAuthFailed(
          `server asked for ${iterations} iterations (allowed ${this.#o.minIterations}..${this.#o.maxIterations})`,
        );
      }
      const h = nodeHashName(this.#o.hash);
      const { clientKey, storedKey, serverKey } = scramKeys(this.#o.hash, this.#o.password, salt, iterations);
      const clientFinalWithoutProof = `c=biws,r=${nonce}`;
      const authMessage = `${this.#clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
      const clientSignature = createHmac(h, storedKey).update(authMessage).digest();
      const proof = xor(clientKey, clientSignature);
      this.#expectedServerSignature = createHmac(h, serverKey).update(authMessage).digest();
      this.#state = 'stepped';
      return encode(`${clientFinalWithoutProof},p=${proof.toString('base64')}`);
    } catch (err) {
      this.#state = 'failed';
      throw err;
    }
  }

  finish(serverFinal: Uint8Array): void {
    if (this.#state !== 'stepped') throw this.#fail('finish() out of order');
    this.#state = 'failed';
    const text = decode(serverFinal, 'server-final message');
    const attrs = parseAttributes(text, 'server-final message');
    if (attrs[0]?.[0] === 'e') throw ErrAuthFailed(`server error: ${attrs[0][1]}`);
    if (attrs[0]?.[0] !== 'v') throw malformed('server-final message');
    const got = decodeBase64(attrs[0][1], 'server signature');
    const want = this.#expectedServerSignature!;
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw ErrAuthFailed('the server could not prove it knows the credential (bad server signature)');
    }
    this.#state = 'finished';
  }

  #fail(why: string) {
    this.#state = 'failed';
    return ErrAuthFailed(why);
  }
}

export function defaultNonce(): string {
  return randomBytes(24).toString('base64');
}
