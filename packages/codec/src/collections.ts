// Collection-prefixed keys: unsigned LEB128 collection id, then the document key.
import { ErrBadValue, ErrEncode } from './errors.js';

/** Encodes an unsigned LEB128 (u32 collection ids). */
export function encodeLeb128(v: number): Buffer {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw ErrEncode(`LEB128 value ${String(v)} is not a u32`);
  const out: number[] = [];
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return Buffer.from(out);
}

/** Decodes an unsigned LEB128 u32 at the start of `buf`; returns the value and its byte length. */
export function decodeLeb128(buf: Uint8Array): { value: number; length: number } {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= buf.length) throw ErrBadValue('key ends inside its LEB128 collection id');
    const b = buf[i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (value > 0xffffffff) break;
      return { value, length: i + 1 };
    }
  }
  throw ErrBadValue('LEB128 collection id longer than a u32');
}

/** Splits a collections-connection key into its collection id and the document key (a view). */
export function splitCollectionKey(key: Uint8Array): { collectionId: number; key: Buffer } {
  const { value, length } = decodeLeb128(key);
  const b = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return { collectionId: value, key: b.subarray(length) };
}

/** Prefixes a document key with its collection id. */
export function joinCollectionKey(collectionId: number, key: Uint8Array | string): Buffer {
  return Buffer.concat([
    encodeLeb128(collectionId),
    typeof key === 'string' ? Buffer.from(key, 'utf8') : key,
  ]);
}
