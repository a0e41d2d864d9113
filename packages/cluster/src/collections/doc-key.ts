// How a document's collection is kept in the in-memory key (VBucket maps, the history, the store).
// A key of the default collection is its bytes as they are (so a bucket that never uses
// collections looks exactly as before); any other key is 0xFF, the collection id in unsigned
// LEB128, then the document key. 0xFF never starts a UTF-8 string, and a default-collection key
// that does start with it (binary keys) is escaped the same way, as 0xFF 0x00 + key, so the
// mapping is one to one. Keys are latin1 strings (one char per byte), as everywhere in the cluster.
// kv_engine keeps the LEB128 prefix on every key internally (docs/Collections.md); we keep the
// default collection unprefixed so the DCP hot path of default-only buckets is unchanged.

/** kv_engine's reserved "system" collection: system events live there (never in a manifest). */
export const SYSTEM_COLLECTION = 1;
const MARK = 0xff;

export function leb128(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return out;
}

/** The in-memory key of `key` (bytes) in collection `cid`. */
export function internalKey(cid: number, key: Buffer): Buffer {
  if (cid === 0 && (key.length === 0 || key[0] !== MARK)) return key;
  const prefix = leb128(cid);
  const b = Buffer.allocUnsafe(1 + prefix.length + key.length);
  b[0] = MARK;
  for (let i = 0; i < prefix.length; i++) b[1 + i] = prefix[i];
  key.copy(b, 1 + prefix.length);
  return b;
}

/** internalKey for a latin1 string key. */
export function internalKeyStr(cid: number, keyStr: string): string {
  if (cid === 0 && keyStr.charCodeAt(0) !== MARK) return keyStr;
  return String.fromCharCode(MARK, ...leb128(cid)) + keyStr;
}

/** The collection of an in-memory key. */
export function cidOf(keyStr: string): number {
  if (keyStr.charCodeAt(0) !== MARK) return 0;
  let value = 0;
  let shift = 1;
  for (let i = 1; i < 6 && i < keyStr.length; i++) {
    const c = keyStr.charCodeAt(i);
    value += (c & 0x7f) * shift;
    if ((c & 0x80) === 0) return value;
    shift *= 128;
  }
  return value;
}

/** Where the LEB128 id starts: a collection-aware wire key is keyStr.slice(prefixStart(...)), with "\0" prepended when 0. */
export function isPrefixed(keyStr: string): boolean {
  return keyStr.charCodeAt(0) === MARK;
}

/** The document key without any collection prefix (latin1). */
export function plainKey(keyStr: string): string {
  if (keyStr.charCodeAt(0) !== MARK) return keyStr;
  let i = 1;
  while (i < keyStr.length && keyStr.charCodeAt(i) & 0x80) i++;
  return keyStr.slice(i + 1);
}

/** The key as a collections connection sees it: LEB128 id, then the key (latin1). */
export function wireKey(keyStr: string): string {
  return keyStr.charCodeAt(0) === MARK ? keyStr.slice(1) : `\0${keyStr}`;
}
