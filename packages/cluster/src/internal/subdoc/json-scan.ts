// A JSON scanner over raw document bytes, and the path matcher built on it. Sub-document
// commands answer with, and splice, byte ranges of the stored document (kv_engine runs subjson
// on top of the jsonsl streaming parser), so nothing here builds a tree: positions are found by
// scanning, and the document text outside the touched range is kept byte for byte.
//
// Like jsonsl, the matcher reads the document only up to the end of the match (or of the deepest
// container found): what follows is not looked at. Levels count as jsonsl counts them: the top
// value is level 1, its members (keys and values) level 2, and so on; subjson allocates 33
// levels, so anything at level 33 or deeper is DOC_E2DEEP (docs/SubDocument.md "Limits").

import type { PathComponent } from './path.js';
import { SubdocStatus } from './status.js';

/** The deepest jsonsl level subjson's parser holds (Limits::PARSER_DEPTH 33, levels 1..32). */
export const MAX_LEVEL = 32;

export const JsonType = {
  Object: 1,
  Array: 2,
  String: 3,
  Number: 4,
  True: 5,
  False: 6,
  Null: 7,
} as const;
export type JsonType = (typeof JsonType)[keyof typeof JsonType];

/** A scan failure: DOC_NOTJSON or DOC_E2DEEP (or their VALUE_* counterparts for user values). */
export class JsonScanError extends Error {
  constructor(readonly deep: boolean) {
    super(deep ? 'too deep' : 'not JSON');
  }
}
const NOT_JSON = new JsonScanError(false);
const TOO_DEEP = new JsonScanError(true);

const QUOTE = 0x22;

export function isJsonWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

export function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && isJsonWs(b[i])) i++;
  return i;
}

export function typeAt(b: Uint8Array, i: number): JsonType {
  switch (b[i]) {
    case 0x7b:
      return JsonType.Object;
    case 0x5b:
      return JsonType.Array;
    case QUOTE:
      return JsonType.String;
    case 0x74:
      return JsonType.True;
    case 0x66:
      return JsonType.False;
    case 0x6e:
      return JsonType.Null;
    default:
      return JsonType.Number;
  }
}

function hex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** End (exclusive) of the string starting with the quote at `i`. */
export function scanString(b: Uint8Array, i: number): number {
  i++;
  for (;;) {
    if (i >= b.length) throw NOT_JSON;
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c < 0x20) throw NOT_JSON;
    if (c === 0x5c) {
      const e = b[i + 1];
      if (e === 0x75) {
        if (!(hex(b[i + 2]) && hex(b[i + 3]) && hex(b[i + 4]) && hex(b[i + 5]))) throw NOT_JSON;
        i += 6;
        continue;
      }
      if (
        e !== QUOTE &&
        e !== 0x5c &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      )
        throw NOT_JSON;
      i += 2;
      continue;
    }
    i++;
  }
}

function digit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** End of the number at `i` (RFC 8259 grammar). */
function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (digit(b[i]) && b[i] !== 0x30) while (digit(b[i])) i++;
  else throw NOT_JSON;
  if (b[i] === 0x2e) {
    i++;
    if (!digit(b[i])) throw NOT_JSON;
    while (digit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!digit(b[i])) throw NOT_JSON;
    while (digit(b[i])) i++;
  }
  return i;
}

function scanLiteral(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) throw NOT_JSON;
  return i + word.length;
}

/**
 * End (exclusive) of the JSON value starting at `i` (no leading whitespace), the value being at
 * jsonsl level `level`; anything deeper than `maxLevel` is TOO_DEEP.
 */
export function scanValue(b: Uint8Array, i: number, level: number, maxLevel = MAX_LEVEL): number {
  if (level > maxLevel) throw TOO_DEEP;
  if (i >= b.length) throw NOT_JSON;
  const c = b[i];
  if (c === 0x7b) {
    i = skipWs(b, i + 1);
    if (b[i] === 0x7d) return i + 1;
    for (;;) {
      if (b[i] !== QUOTE) throw NOT_JSON;
      if (level + 1 > maxLevel) throw TOO_DEEP;
      i = skipWs(b, scanString(b, i));
      if (b[i] !== 0x3a) throw NOT_JSON;
      i = skipWs(b, scanValue(b, skipWs(b, i + 1), level + 1, maxLevel));
      if (b[i] === 0x2c) i = skipWs(b, i + 1);
      else if (b[i] === 0x7d) return i + 1;
      else throw NOT_JSON;
    }
  }
  if (c === 0x5b) {
    i = skipWs(b, i + 1);
    if (b[i] === 0x5d) return i + 1;
    for (;;) {
      i = skipWs(b, scanValue(b, i, level + 1, maxLevel));
      if (b[i] === 0x2c) i = skipWs(b, i + 1);
      else if (b[i] === 0x5d) return i + 1;
      else throw NOT_JSON;
    }
  }
  if (c === QUOTE) return scanString(b, i);
  if (c === 0x74) return scanLiteral(b, i, 'true');
  if (c === 0x66) return scanLiteral(b, i, 'false');
  if (c === 0x6e) return scanLiteral(b, i, 'null');
  return scanNumber(b, i);
}

/** Members of the object or elements of the array at `i` (a complete container). */
export function countChildren(b: Uint8Array, i: number): number {
  const close = b[i] === 0x7b ? 0x7d : 0x5d;
  const isObject = b[i] === 0x7b;
  i = skipWs(b, i + 1);
  if (b[i] === close) return 0;
  let n = 0;
  for (;;) {
    if (isObject) i = skipWs(b, skipWs(b, scanString(b, i)) + 1);
    i = skipWs(b, scanValue(b, i, 1, Number.MAX_SAFE_INTEGER));
    n++;
    if (b[i] === 0x2c) i = skipWs(b, i + 1);
    else return n;
  }
}

/** Start offsets of the elements of the array at `i`. */
export function arrayElements(b: Uint8Array, i: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  i = skipWs(b, i + 1);
  if (b[i] === 0x5d) return out;
  for (;;) {
    const end = scanValue(b, i, 1, Number.MAX_SAFE_INTEGER);
    out.push({ start: i, end });
    i = skipWs(b, end);
    if (b[i] === 0x2c) i = skipWs(b, i + 1);
    else return out;
  }
}

/**
 * The bytes a key compares as: its raw text between the quotes, with '\uXXXX' escapes turned
 * into UTF-8 (subjson's UescapeConverter, as hkesc.h applies it to any key holding an escape;
 * other escapes stay as written). Undefined when the escapes do not decode.
 */
export function keyForCompare(raw: Uint8Array): Uint8Array | undefined {
  if (!raw.includes(0x5c)) return raw;
  const out: number[] = [];
  let high = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 1 < raw.length && raw[i + 1] === 0x75) {
      if (raw.length - (i + 2) < 4) return undefined;
      let cp = 0;
      for (let k = i + 2; k < i + 6; k++) {
        const c = raw[k];
        const v = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
        if (!hex(c)) return undefined;
        cp = cp * 16 + v;
      }
      i += 5;
      if (cp === 0) return undefined;
      if (high) {
        if (cp < 0xdc00 || cp > 0xdfff) return undefined;
        pushUtf8(out, 0x10000 + ((high & 0x3ff) << 10) + (cp & 0x3ff));
        high = 0;
      } else if (cp < 0xd800 || cp > 0xdfff) pushUtf8(out, cp);
      else if (cp < 0xdc00) high = cp;
      else return undefined;
    } else if (high) return undefined;
    else out.push(raw[i]);
  }
  if (high) return undefined;
  return Uint8Array.from(out);
}

function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The whole path was found. */
export interface Found {
  readonly found: true;
  readonly start: number;
  readonly end: number;
  readonly type: JsonType;
  readonly level: number;
  /** Type of the containing object or array (undefined for the document root). */
  readonly parentType: JsonType | undefined;
  /** Offset of the opening quote of the key, for an object member. */
  readonly keyStart: number;
  /** Position among the parent's children. */
  readonly index: number;
  /** No sibling follows. */
  readonly isLast: boolean;
}

/** Part of the path was found: the deepest container on it (jsonsl MATCH_POSSIBLE). */
export interface Partial {
  readonly found: false;
  readonly start: number;
  readonly end: number;
  readonly type: JsonType;
  readonly level: number;
  readonly childCount: number;
  /** The container is the one the last path component would live in. */
  readonly immediateParent: boolean;
}

export type Match = Found | Partial;

/**
 * Finds `path` in `doc`. Returns PATH_MISMATCH (a number) when the path treats a value as the
 * wrong kind of container; throws JsonScanError when the document does not parse up to there.
 */
export function matchPath(doc: Uint8Array, path: readonly PathComponent[]): Match | number {
  let i = skipWs(doc, 0);
  if (i >= doc.length) throw NOT_JSON;
  let level = 1;
  let parentType: JsonType | undefined;
  let keyStart = -1;
  let index = 0;
  for (let ci = 0; ; ci++) {
    if (ci === path.length) {
      const end = scanValue(doc, i, level);
      const isLast = parentType === undefined || doc[skipWs(doc, end)] !== 0x2c;
      return { found: true, start: i, end, type: typeAt(doc, i), level, parentType, keyStart, index, isLast };
    }
    if (level > MAX_LEVEL) throw TOO_DEEP;
    const comp = path[ci];
    const t = typeAt(doc, i);
    // jsonsl__match_continue: a value the path goes on from must be the matching container.
    if (comp.key !== undefined ? t !== JsonType.Object : t !== JsonType.Array)
      return SubdocStatus.PathMismatch;
    const containerStart = i;
    let j = skipWs(doc, i + 1);
    let n = 0;
    let descend = -1;
    let end: number;
    if (t === JsonType.Object) {
      if (doc[j] === 0x7d) end = j + 1;
      else
        for (;;) {
          if (doc[j] !== QUOTE) throw NOT_JSON;
          if (level + 1 > MAX_LEVEL) throw TOO_DEEP;
          const ks = j;
          const ke = scanString(doc, j);
          j = skipWs(doc, ke);
          if (doc[j] !== 0x3a) throw NOT_JSON;
          j = skipWs(doc, j + 1);
          const k = keyForCompare(doc.subarray(ks + 1, ke - 1));
          if (k && bytesEqual(k, comp.key!)) {
            keyStart = ks;
            descend = j;
            break;
          }
          j = skipWs(doc, scanValue(doc, j, level + 1));
          n++;
          if (doc[j] === 0x2c) j = skipWs(doc, j + 1);
          else if (doc[j] === 0x7d) {
            end = j + 1;
            break;
          } else throw NOT_JSON;
        }
    } else {
      const want = comp.index!;
      let lastStart = -1;
      if (doc[j] === 0x5d) end = j + 1;
      else
        for (;;) {
          if (n === want) {
            descend = j;
            break;
          }
          lastStart = j;
          j = skipWs(doc, scanValue(doc, j, level + 1));
          n++;
          if (doc[j] === 0x2c) j = skipWs(doc, j + 1);
          else if (doc[j] === 0x5d) {
            end = j + 1;
            break;
          } else throw NOT_JSON;
        }
      if (descend < 0 && want === -1 && n > 0) {
        descend = lastStart;
        n--;
      }
      keyStart = -1;
    }
    if (descend < 0) {
      return {
        found: false,
        start: containerStart,
        end: end!,
        type: t,
        level,
        childCount: n,
        immediateParent: ci === path.length - 1,
      };
    }
    parentType = t;
    index = n;
    i = descend;
    level++;
  }
}
