import type { ScramHash } from '@tributary/core';

/** Mechanism names as Couchbase spells them, strongest first (what the provider offers). */
export const SCRAM_MECHANISMS = ['SCRAM-SHA512', 'SCRAM-SHA256', 'SCRAM-SHA1'] as const;

const BY_NAME: Record<string, ScramHash> = {
  'SCRAM-SHA512': 'SHA-512',
  'SCRAM-SHA-512': 'SHA-512',
  'SCRAM-SHA256': 'SHA-256',
  'SCRAM-SHA-256': 'SHA-256',
  'SCRAM-SHA1': 'SHA-1',
  'SCRAM-SHA-1': 'SHA-1',
};

/** The hash behind a mechanism name, accepting Couchbase's and the IANA spelling; undefined if not SCRAM. */
export function scramHashFor(mechanism: string): ScramHash | undefined {
  return BY_NAME[mechanism.toUpperCase()];
}

/** Couchbase's spelling for a hash ('SHA-512' → 'SCRAM-SHA512'). */
export function mechanismFor(hash: ScramHash): string {
  return `SCRAM-${hash.replace('-', '')}`;
}

export const HASH_BYTES: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };
