import { createHmac } from 'node:crypto';
import type { UserCredential } from '@tributary/core';

/**
 * The credential an unknown user is checked against: salt and keys derived from a server secret
 * and the name (deterministic), with the real iteration count, so verifyPassword runs the same
 * PBKDF2 as for a real user and fails.
 */
export function fakeUserCredential(secret: Uint8Array, username: string, iterations: number): UserCredential {
  const mac = (label: string) => createHmac('sha512', secret).update(`${label}\0${username}`).digest();
  return {
    username,
    scram: {
      'SHA-512': {
        salt: new Uint8Array(mac('salt').subarray(0, 16)),
        iterations,
        storedKey: mac('stored-key'),
        serverKey: mac('server-key'),
      },
    },
  };
}
