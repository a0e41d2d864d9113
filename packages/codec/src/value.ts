// Document values: snappy (raw block format) and the xattr section.
import { compressSync, uncompressSync } from 'snappy';
import { Datatype, MAX_ITEM_BYTES } from './constants.js';
import { ErrBadValue, ErrEncode } from './errors.js';
import { EMPTY } from './internal/magic.js';

const asBuf = (v: Uint8Array): Buffer =>
  Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Uncompressed length announced by a raw snappy block (its leading varint). */
export function snappyUncompressedLength(block: Uint8Array): number {
  let result = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= block.length) throw ErrBadValue('snappy block ends inside its length varint');
    const b = block[i];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) {
      if (result > 0xffffffff) break;
      return result;
    }
    shift += 7;
  }
  throw ErrBadValue('snappy length varint is longer than 32 bits');
}

/** Inflates a raw snappy block; refuses blocks announcing more than `maxBytes` (default 20 MiB). */
export function snappyUncompress(block: Uint8Array, maxBytes = MAX_ITEM_BYTES): Buffer {
  const n = snappyUncompressedLength(block);
  if (n > maxBytes) throw ErrBadValue(`snappy block announces ${n} bytes, limit ${maxBytes}`);
  if (n === 0) return EMPTY;
  let out: Buffer;
  try {
    out = uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw ErrBadValue(`corrupt snappy block: ${(err as Error).message}`, { cause: err });
  }
  if (out.length !== n) throw ErrBadValue(`snappy block inflated to ${out.length} bytes, announced ${n}`);
  return out;
}

/** Compresses into a raw snappy block (what datatype Snappy means on the wire). */
export function snappyCompress(data: Uint8Array | string): Buffer {
  try {
    return compressSync(data);
  } catch (err) {
    throw ErrEncode(`snappy compression failed: ${(err as Error).message}`);
  }
}

/**
 * The value of a packet (or typed message) with snappy undone: when `datatype` has the Snappy bit,
 * the inflated bytes; otherwise `value` itself.
 */
export function decompressValue(
  p: { datatype: number; value: Uint8Array },
  maxBytes = MAX_ITEM_BYTES,
): Buffer {
  const v = asBuf(p.value);
  return (p.datatype & Datatype.Snappy) !== 0 ? snappyUncompress(v, maxBytes) : v;
}

export interface ParsedXattrs {
  xattrs: Record<string, string>;
  /** The document body after the xattr section (a view). */
  body: Buffer;
}

/**
 * Splits a value whose datatype has the Xattr bit: u32 section length, then
 * {u32 pair length, key, 0x00, value, 0x00}…, then the body. Throws TRIB_BAD_VALUE when malformed.
 */
export function parseXattrs(value: Uint8Array): ParsedXattrs {
  const v = asBuf(value);
  if (v.length < 4) throw ErrBadValue(`xattr value of ${v.length} bytes has no section length`);
  const total = v.readUInt32BE(0);
  if (total > v.length - 4)
    throw ErrBadValue(`xattr section of ${total} bytes exceeds the ${v.length - 4} available`);
  const end = 4 + total;
  const xattrs: Record<string, string> = Object.create(null);
  let o = 4;
  while (o < end) {
    if (end - o < 4) throw ErrBadValue('xattr section ends inside a pair length');
    const len = v.readUInt32BE(o);
    o += 4;
    if (len > end - o || len < 2) throw ErrBadValue(`xattr pair of ${len} bytes does not fit the section`);
    const pairEnd = o + len;
    const z = v.indexOf(0, o);
    if (z < 0 || z >= pairEnd - 1) throw ErrBadValue('xattr key is not NUL-terminated inside its pair');
    if (v[pairEnd - 1] !== 0) throw ErrBadValue('xattr value is not NUL-terminated');
    const key = v.toString('utf8', o, z);
    if (key === '') throw ErrBadValue('empty xattr key');
    xattrs[key] = v.toString('utf8', z + 1, pairEnd - 1);
    o = pairEnd;
  }
  return { xattrs: { ...xattrs }, body: v.subarray(end) };
}

/** Builds an xattr section followed by `body` (the inverse of {@link parseXattrs}). */
export function encodeXattrs(xattrs: Record<string, string>, body: Uint8Array | string = EMPTY): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  let total = 0;
  for (const [k, val] of Object.entries(xattrs)) {
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(val, 'utf8');
    if (kb.length === 0 || kb.includes(0)) throw ErrEncode(`bad xattr key ${JSON.stringify(k)}`);
    if (vb.includes(0)) throw ErrEncode(`xattr ${k} value contains NUL`);
    const len = kb.length + vb.length + 2;
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(len, 0);
    parts.push(head, kb, Buffer.of(0), vb, Buffer.of(0));
    total += 4 + len;
  }
  parts[0].writeUInt32BE(total, 0);
  parts.push(typeof body === 'string' ? Buffer.from(body, 'utf8') : asBuf(body));
  return Buffer.concat(parts);
}

export interface DocumentValue {
  /** The body: inflated, xattr section removed. */
  body: Buffer;
  /** Present when the datatype had the Xattr bit. */
  xattrs?: Record<string, string>;
  /** Datatype of `body` (Snappy and Xattr bits cleared). */
  datatype: number;
}

/** Undo snappy, then split xattrs, as the datatype says. */
export function decodeDocumentValue(
  p: { datatype: number; value: Uint8Array },
  maxBytes = MAX_ITEM_BYTES,
): DocumentValue {
  const raw = decompressValue(p, maxBytes);
  const datatype = p.datatype & ~(Datatype.Snappy | Datatype.Xattr) & 0xff;
  if ((p.datatype & Datatype.Xattr) === 0) return { body: raw, datatype };
  const { xattrs, body } = parseXattrs(raw);
  return { body, xattrs, datatype };
}
