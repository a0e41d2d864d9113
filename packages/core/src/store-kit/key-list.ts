// A list of keys as one message (a store's change notification): each key as a u16 length and its
// bytes. Redis publishes it as is; PostgreSQL sends it base64 in NOTIFY payloads.

/** Keys as one buffer: each as a u16 big-endian length, then its bytes (keys are at most 64 KiB). */
export function encodeKeyList(keys: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const k of keys) size += 2 + k.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const k of keys) {
    out.writeUInt16BE(k.length, o);
    out.set(k, o + 2);
    o += 2 + k.length;
  }
  return out;
}

/** The keys of encodeKeyList's bytes (views into `buf`); a key cut short at the end is dropped. */
export function decodeKeyList(buf: Buffer): Buffer[] {
  const keys: Buffer[] = [];
  let o = 0;
  while (o + 2 <= buf.length) {
    const n = buf.readUInt16BE(o);
    if (o + 2 + n > buf.length) break;
    keys.push(buf.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return keys;
}
