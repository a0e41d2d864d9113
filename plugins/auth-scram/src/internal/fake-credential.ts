import { createHmac } from 'node:crypto';
import { nodeHashName, type ScramCredential, type ScramHash } from '@tributary/core';
import { HASH_BYTES } from '../mechanisms.js';

/**
 * What the server answers for a user it does not know (or who has no key for this hash): a salt
 * and keys derived from a server secret and the name, so asking twice gives the same salt and
 * iteration count as a real user would, and the proof check runs the same HMACs and compare as for
 * a real user (and fails). No PBKDF2 runs on either path: the server only ever holds derived keys.
 */
export function fakeScramCredential(
  secret: Uint8Array,
  hash: ScramHash,
  username: string,
  iterations: number,
): ScramCredential {
  const h = nodeHashName(hash);
  const mac = (label: string) => createHmac(h, secret).update(`${label}\0${hash}\0${username}`).digest();
  return {
    salt: new Uint8Array(mac('salt').subarray(0, 16)),
    iterations,
    storedKey: mac('stored-key').subarray(0, HASH_BYTES[hash]),
    serverKey: mac('server-key').subarray(0, HASH_BYTES[hash]),
  };
}
