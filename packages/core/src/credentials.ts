import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ScramCredential, ScramHash, UserCredential } from './contracts/auth.js';

const NODE_HASH: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' };
const KEY_LEN: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };

export function nodeHashName(hash: ScramHash): string {
  return NODE_HASH[hash];
}

/** RFC 5802 SaltedPassword → (StoredKey, ServerKey). */
export function scramKeys(hash: ScramHash, password: string, salt: Uint8Array, iterations: number) {
  const h = NODE_HASH[hash];
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, KEY_LEN[hash], h);
  const clientKey = createHmac(h, salted).update('Client Key').digest();
  const serverKey = createHmac(h, salted).update('Server Key').digest();
  const storedKey = createHash(h).update(clientKey).digest();
  return { salted, clientKey, storedKey, serverKey };
}

export interface DeriveCredentialOptions {
  iterations?: number;
  hashes?: readonly ScramHash[];
  salt?: Uint8Array;
}

/** Turns a password into what a server may keep: salted SCRAM keys for each hash. */
export function deriveCredential(
  username: string,
  password: string,
  options: DeriveCredentialOptions = {},
): UserCredential {
  const iterations = options.iterations ?? 4096;
  const scram: Partial<Record<ScramHash, ScramCredential>> = {};
  for (const hash of options.hashes ?? (['SHA-512', 'SHA-256', 'SHA-1'] as const)) {
    const salt = options.salt ?? randomBytes(16);
    const { storedKey, serverKey } = scramKeys(hash, password, salt, iterations);
    scram[hash] = { salt: new Uint8Array(salt), iterations, storedKey, serverKey };
  }
  return { username, scram };
}

/** Checks a cleartext password against a stored credential in constant time (PLAIN verification). */
export function verifyPassword(credential: UserCredential, password: string): boolean {
  const hash = (['SHA-512', 'SHA-256', 'SHA-1'] as const).find((h) => credential.scram[h]);
  if (!hash) return false;
  const c = credential.scram[hash]!;
  const { storedKey } = scramKeys(hash, password, c.salt, c.iterations);
  return storedKey.length === c.storedKey.length && timingSafeEqual(storedKey, c.storedKey);
}

/** A credential source over a fixed map of users to passwords; derives once at construction. */
export function staticCredentials(users: Record<string, string>, options: DeriveCredentialOptions = {}) {
  const map = new Map(Object.entries(users).map(([u, p]) => [u, deriveCredential(u, p, options)]));
  return { lookup: (username: string) => map.get(username) };
}
