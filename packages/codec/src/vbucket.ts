// Couchbase's key → vbucket mapping (CRC-32/IEEE, as libcouchbase/gocbcore/go-couchbase).
import { crc32 } from 'node:zlib';
import { ErrInvalidArgument } from '@tributary/core';

/**
 * `((crc32(key) >> 16) & 0x7fff) % numVbuckets`. The key is the plain document key (no
 * collection prefix); strings are hashed as UTF-8.
 */
export function vbucketForKey(key: string | Uint8Array, numVbuckets: number): number {
  if (!Number.isInteger(numVbuckets) || numVbuckets < 1 || numVbuckets > 0x10000) {
    throw ErrInvalidArgument('numVbuckets', `must be an integer in 1..65536, got ${String(numVbuckets)}`);
  }
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw ErrInvalidArgument('key', 'must be a string or Uint8Array');
  }
  return ((crc32(key) >>> 16) & 0x7fff) % numVbuckets;
}
