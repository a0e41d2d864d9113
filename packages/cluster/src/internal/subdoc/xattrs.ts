// Extended attributes: the XATTR section at the front of a value whose datatype has bit 0x04
// (kv_engine docs/ExtendedAttributes.md, xattr/blob.cc), keys (xattr/key_validator.cc), and the
// JSON view sub-document commands operate on.
//
// Layout: u32 total length of the section (not counting these 4 bytes), then for each attribute
// u32 length of the pair, key bytes, 0x00, value bytes (JSON), 0x00. The body follows.
//
// kv_engine runs xattr operations on the JSON object {"key":value,...} and, when one changed
// something, rebuilds the section from that object parsed with nlohmann::json, whose objects
// are std::maps: keys come back sorted by their bytes, values re-serialised compactly. That
// rebuild is reproduced here (canonicalJson) so DCP consumers see the bytes a server makes.

import { JsonScanError, scanString, scanValue, skipWs } from './json-scan.js';

export interface Xattr {
  readonly key: Buffer;
  /** The value, JSON text. */
  readonly value: Buffer;
}

/** Bytes of the XATTR section (length word included) at the start of `value`. */
export function xattrSectionLength(value: Uint8Array): number {
  if (value.length < 4) return value.length;
  const len = Buffer.from(value.buffer, value.byteOffset, value.byteLength).readUInt32BE(0);
  return Math.min(value.length, 4 + len);
}

/** The body of a value that carries an XATTR section. */
export function bodyOf(value: Buffer): Buffer {
  return value.subarray(xattrSectionLength(value));
}

/** The pairs of an XATTR section; undefined when the layout is broken. */
export function parseXattrs(value: Buffer): Xattr[] | undefined {
  if (value.length < 4) return undefined;
  const total = value.readUInt32BE(0);
  if (4 + total > value.length) return undefined;
  const out: Xattr[] = [];
  let i = 4;
  const end = 4 + total;
  while (i < end) {
    if (i + 4 > end) return undefined;
    const len = value.readUInt32BE(i);
    i += 4;
    if (i + len > end || len < 2) return undefined;
    const pair = value.subarray(i, i + len);
    const z = pair.indexOf(0);
    if (z <= 0 || pair[len - 1] !== 0 || z === len - 1) return undefined;
    out.push({ key: pair.subarray(0, z), value: pair.subarray(z + 1, len - 1) });
    i += len;
  }
  return out;
}

/** The XATTR section for `pairs` (empty when there are none: the datatype bit goes too). */
export function encodeXattrs(pairs: readonly Xattr[]): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  let total = 0;
  for (const p of pairs) total += 4 + p.key.length + 1 + p.value.length + 1;
  const b = Buffer.allocUnsafe(4 + total);
  b.writeUInt32BE(total, 0);
  let o = 4;
  for (const p of pairs) {
    b.writeUInt32BE(p.key.length + 1 + p.value.length + 1, o);
    o += 4;
    o += p.key.copy(b, o);
    b[o++] = 0;
    o += p.value.copy(b, o);
    b[o++] = 0;
  }
  return b;
}

/** System xattrs start with '_' (docs/ExtendedAttributes.md). */
export function isSystemKey(key: Uint8Array): boolean {
  return key[0] === 0x5f;
}

/** The JSON object sub-document xattr operations run on (cb::xattr::Blob::to_string). */
export function xattrsAsJson(pairs: readonly Xattr[]): Buffer {
  const parts: Buffer[] = [Buffer.from('{')];
  pairs.forEach((p, i) => {
    parts.push(Buffer.from(i ? ',"' : '"'), p.key, Buffer.from('":'), p.value);
  });
  parts.push(Buffer.from('}'));
  return Buffer.concat(parts);
}

/** nlohmann::json's rebuild of the section from the operated-on object (sorted keys, compact values). */
export function xattrsFromJson(json: Buffer): Xattr[] {
  const root = parseTree(json);
  if (root.kind !== 'object') throw new Error('xattrs are not an object');
  return sortedMembers(root).map(([k, v]) => ({
    key: Buffer.from(k, 'utf8'),
    value: Buffer.from(dump(v), 'utf8'),
  }));
}

/** SUBDOC_MAX_XATTR_LENGTH: kv_engine refuses keys of 16 bytes or more (key_validator.cc). */
const MAX_XATTR_KEY = 16;

/**
 * kv_engine is_valid_xattr_key: the key is the path up to the first '.' or '['; it is valid
 * UTF-8 without NUL, 1..15 bytes, not starting with punctuation or a control character other
 * than '_' (system) or '$' (virtual), and a lone '_' or '$' is not a key. Returns its length.
 */
export function xattrKeyLength(path: Uint8Array): number | undefined {
  let dot = path.length;
  let special = false;
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    let w = 1;
    if (c >= 0x80) {
      if ((c & 0xe0) === 0xc0) w = 2;
      else if ((c & 0xf0) === 0xe0) w = 3;
      else if ((c & 0xf8) === 0xf0) w = 4;
      else return undefined;
      if (i + w > path.length) return undefined;
      for (let k = 1; k < w; k++) if ((path[i + k] & 0xc0) !== 0x80) return undefined;
    } else {
      if (i === 0 && (isPunct(c) || c < 0x20 || c === 0x7f)) {
        if (c === 0x5f || c === 0x24) special = true;
        else return undefined;
      }
      if ((c === 0x2e || c === 0x5b) && dot === path.length) dot = i;
      if (c === 0) return undefined;
    }
    i += w;
  }
  if (dot === 0 || dot >= MAX_XATTR_KEY || (special && dot === 1)) return undefined;
  return dot;
}

function isPunct(c: number): boolean {
  return (
    (c >= 0x21 && c <= 0x2f) ||
    (c >= 0x3a && c <= 0x40) ||
    (c >= 0x5b && c <= 0x60) ||
    (c >= 0x7b && c <= 0x7e)
  );
}

// ---- a small JSON tree with nlohmann's serialisation ------------------------------------------

type Node =
  | { kind: 'object'; members: [string, Node][] }
  | { kind: 'array'; items: Node[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; text: string }
  | { kind: 'literal'; text: 'true' | 'false' | 'null' };

function parseTree(b: Buffer): Node {
  // Validate first (throws JsonScanError on anything that is not one JSON value).
  const start = skipWs(b, 0);
  const end = scanValue(b, start, 1, Number.MAX_SAFE_INTEGER);
  if (skipWs(b, end) !== b.length) throw new JsonScanError(false);
  let i = start;
  const value = (): Node => {
    i = skipWs(b, i);
    const c = b[i];
    if (c === 0x7b) {
      i = skipWs(b, i + 1);
      const members: [string, Node][] = [];
      if (b[i] === 0x7d) {
        i++;
        return { kind: 'object', members };
      }
      for (;;) {
        i = skipWs(b, i);
        const ke = scanString(b, i);
        const key = JSON.parse(b.toString('utf8', i, ke)) as string;
        i = skipWs(b, ke) + 1;
        members.push([key, value()]);
        i = skipWs(b, i);
        if (b[i++] === 0x7d) return { kind: 'object', members };
      }
    }
    if (c === 0x5b) {
      i = skipWs(b, i + 1);
      const items: Node[] = [];
      if (b[i] === 0x5d) {
        i++;
        return { kind: 'array', items };
      }
      for (;;) {
        items.push(value());
        i = skipWs(b, i);
        if (b[i++] === 0x5d) return { kind: 'array', items };
      }
    }
    const e = scanValue(b, i, 1, Number.MAX_SAFE_INTEGER);
    const text = b.toString('utf8', i, e);
    i = e;
    if (c === 0x22) return { kind: 'string', value: JSON.parse(text) as string };
    if (text === 'true' || text === 'false' || text === 'null') return { kind: 'literal', text };
    return { kind: 'number', text };
  };
  return value();
}

/** nlohmann objects are std::map<std::string, json>: one entry per key (the last one wins), sorted by bytes. */
function sortedMembers(n: Node & { kind: 'object' }): [string, Node][] {
  const m = new Map<string, Node>();
  for (const [k, v] of n.members) m.set(k, v);
  return [...m.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

function dumpString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** nlohmann's number output: integers as parsed, floats in its grisu2 format (min_exp -4, max_exp 15). */
function dumpNumber(text: string): string {
  if (/^-?[0-9]+$/.test(text)) {
    const v = BigInt(text);
    if (v >= INT64_MIN && v <= UINT64_MAX) return v.toString();
  }
  const x = Number(text);
  if (!Number.isFinite(x)) return 'null';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const neg = x < 0;
  const [mant, expPart] = Math.abs(x).toExponential().split('e');
  const digits = mant.replace('.', '');
  const k = digits.length;
  const n = Number(expPart) + 1; // position of the decimal point relative to the digits
  let s: string;
  if (k <= n && n <= 15) s = `${digits}${'0'.repeat(n - k)}.0`;
  else if (n > 0 && n <= 15) s = `${digits.slice(0, n)}.${digits.slice(n)}`;
  else if (n > -4 && n <= 0) s = `0.${'0'.repeat(-n)}${digits}`;
  else {
    const e = n - 1;
    const exp = `e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
    s = k === 1 ? `${digits}${exp}` : `${digits[0]}.${digits.slice(1)}${exp}`;
  }
  return neg ? `-${s}` : s;
}

function dump(n: Node): string {
  switch (n.kind) {
    case 'object':
      return `{${sortedMembers(n)
        .map(([k, v]) => `${dumpString(k)}:${dump(v)}`)
        .join(',')}}`;
    case 'array':
      return `[${n.items.map(dump).join(',')}]`;
    case 'string':
      return dumpString(n.value);
    case 'number':
      return dumpNumber(n.text);
    case 'literal':
      return n.text;
  }
}
