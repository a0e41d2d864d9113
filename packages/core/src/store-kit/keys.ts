// Helpers shared by store plugins (ours and third parties'): key and batch validation with the
// contract's errors, scan ranges, and the watch fan-out with bounded pending keys.
import type { BatchOp, ScanOptions } from '../contracts/store.js';
import { ErrInvalidArgument } from '../errors.js';

/** Longest key any Tributary store accepts (LMDB's limit; Postgres indexes it comfortably). */
export const MAX_KEY_BYTES = 1978;

/** A Buffer view over the caller's bytes (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function checkKey(key: unknown, name = 'key'): Buffer {
  if (!(key instanceof Uint8Array)) throw ErrInvalidArgument(name, 'must be a Uint8Array');
  if (key.byteLength === 0) throw ErrInvalidArgument(name, 'must not be empty');
  if (key.byteLength > MAX_KEY_BYTES)
    throw ErrInvalidArgument(name, `must be at most ${MAX_KEY_BYTES} bytes`);
  return asBuffer(key);
}

export function checkValue(value: unknown, name = 'value'): Buffer {
  if (!(value instanceof Uint8Array)) throw ErrInvalidArgument(name, 'must be a Uint8Array');
  return asBuffer(value);
}

export interface CheckedOp {
  type: 'put' | 'del';
  key: Buffer;
  value?: Buffer;
}

/** Validates every op before anything is written, so a bad op never leaves half a batch. */
export function checkOps(ops: readonly BatchOp[]): CheckedOp[] {
  if (!Array.isArray(ops)) throw ErrInvalidArgument('ops', 'must be an array');
  const out: CheckedOp[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as BatchOp | undefined;
    if (op === null || typeof op !== 'object') throw ErrInvalidArgument(`ops[${i}]`, 'must be an object');
    const key = checkKey(op.key, `ops[${i}].key`);
    if (op.type === 'put') out[i] = { type: 'put', key, value: checkValue(op.value, `ops[${i}].value`) };
    else if (op.type === 'del') out[i] = { type: 'del', key };
    else throw ErrInvalidArgument(`ops[${i}].type`, 'must be "put" or "del"');
  }
  return out;
}

/**
 * Last op per key wins: the disjoint puts and dels a backend can apply in any order
 * (Redis ZADD/ZREM, Postgres INSERT ... ON CONFLICT / DELETE).
 */
export function collapseOps(ops: readonly CheckedOp[]): { puts: CheckedOp[]; dels: Buffer[] } {
  const last = new Map<string, CheckedOp>();
  for (const op of ops) {
    const id = op.key.toString('latin1');
    // delete first so the insertion order follows the last write
    last.delete(id);
    last.set(id, op);
  }
  const puts: CheckedOp[] = [];
  const dels: Buffer[] = [];
  for (const op of last.values()) {
    if (op.type === 'put') puts.push(op);
    else dels.push(op.key);
  }
  return { puts, dels };
}

/** Smallest key greater than every key starting with `prefix`; undefined when there is none (all 0xff). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]! += 1;
  return out;
}

export interface Range {
  /** Inclusive lower bound; undefined = from the first key. */
  gte?: Buffer;
  /** Exclusive upper bound; undefined = to the last key. */
  lt?: Buffer;
  /** Max entries; Infinity when unlimited. */
  limit: number;
  reverse: boolean;
  /** True when the bounds exclude everything (nothing to read). */
  empty: boolean;
}

/** Folds gte/lt/prefix into one [gte, lt) range and checks limit. */
export function toRange(options: ScanOptions = {}): Range {
  if (options === null || typeof options !== 'object')
    throw ErrInvalidArgument('options', 'must be an object');
  let gte = options.gte === undefined ? undefined : checkBound(options.gte, 'gte');
  let lt = options.lt === undefined ? undefined : checkBound(options.lt, 'lt');
  if (options.prefix !== undefined) {
    const prefix = checkBound(options.prefix, 'prefix');
    if (prefix.length > 0) {
      if (gte === undefined || Buffer.compare(prefix, gte) > 0) gte = prefix;
      const end = prefixEnd(prefix);
      if (end !== undefined && (lt === undefined || Buffer.compare(end, lt) < 0)) lt = end;
    }
  }
  let limit = Number.POSITIVE_INFINITY;
  if (options.limit !== undefined) {
    if (typeof options.limit !== 'number' || Number.isNaN(options.limit) || options.limit < 0)
      throw ErrInvalidArgument('limit', 'must be a number >= 0');
    limit = Math.floor(options.limit);
  }
  const empty =
    limit === 0 ||
    (lt !== undefined && lt.length === 0) ||
    (gte !== undefined && lt !== undefined && Buffer.compare(gte, lt) >= 0);
  if (gte !== undefined && gte.length === 0) gte = undefined;
  return { gte, lt, limit, reverse: options.reverse === true, empty };
}

function checkBound(bound: unknown, name: string): Buffer {
  if (!(bound instanceof Uint8Array)) throw ErrInvalidArgument(name, 'must be a Uint8Array');
  return asBuffer(bound);
}

/** True when `key` starts with `prefix`. */
export function hasPrefix(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
