// Sub-document path syntax: kv_engine docs/SubDocument.md ("Path", "Path Errors", "Limits").
// The rules below follow subjson's subdoc/path.cc (the parser the server runs) rule for rule,
// including its quirks, because clients see its answers:
//   - components are separated by '.', array indexes follow in brackets ("a[0][1].b");
//   - backticks escape '.', '[' and ']' ("`a.b`"), a doubled backtick is a literal one;
//   - JSON escapes stay as they are (a key is compared with the raw key text in the document),
//     '\u' escapes and unescaped '"' or control characters are refused;
//   - "[-1]" is the last element, any other negative index is refused;
//   - a trailing '.' is ignored ("a." is "a"), "[]" reads as "[0]";
//   - at most 31 components: subjson's MAX_COMPONENTS is 32 and counts the implicit root.
// Errors: PATH_EINVAL (0xc2) for syntax, PATH_E2BIG (0xc3) for too many components.

import { SubdocStatus } from './status.js';

/** A dictionary key: the bytes that must stand between the quotes of the key in the document. */
export interface KeyComponent {
  readonly key: Buffer;
  readonly index?: undefined;
}
/** An array index; -1 is the last element. */
export interface IndexComponent {
  readonly key?: undefined;
  readonly index: number;
}
export type PathComponent = KeyComponent | IndexComponent;

/** subjson Limits::MAX_COMPONENTS (32) less the implicit root component. */
export const MAX_PATH_COMPONENTS = 31;
/** kv_engine SUBDOC_PATH_MAX_LENGTH: longer paths are refused by the validator with EINVAL. */
export const MAX_PATH_BYTES = 1024;

export type PathParse = { ok: true; components: PathComponent[] } | { ok: false; status: number };

const BACKTICK = 0x60;
const DOT = 0x2e;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;

/** JSON escapes subjson accepts in a path ('u' is among JSON's, but refused separately). */
function allowedEscape(c: number): boolean {
  return (
    c === 0x22 ||
    c === 0x2f ||
    c === 0x5c ||
    c === 0x62 ||
    c === 0x66 ||
    c === 0x6e ||
    c === 0x72 ||
    c === 0x74
  );
}

class Fail {
  constructor(readonly status: number) {}
}
const EINVAL = new Fail(SubdocStatus.PathEinval);
const E2BIG = new Fail(SubdocStatus.PathE2big);

/** Parses a sub-document path (bytes as they came off the wire). */
export function parsePath(path: Uint8Array): PathParse {
  const p = Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  const out: PathComponent[] = [];
  let i = 0;
  try {
    while (i < p.length) {
      if (p[i] === OPEN) {
        const close = p.indexOf(CLOSE, i + 1);
        if (close < 0) throw EINVAL;
        addIndex(out, p.subarray(i + 1, close));
        i = close + 1;
        if (i === p.length || p[i] === OPEN) continue;
        if (p[i] === DOT) i++;
        else throw EINVAL;
      } else {
        i += addString(out, p.subarray(i));
      }
    }
  } catch (err) {
    if (err instanceof Fail) return { ok: false, status: err.status };
    throw err;
  }
  return { ok: true, components: out };
}

function addIndex(out: PathComponent[], digits: Buffer): void {
  let index: number;
  if (digits.length && digits[0] === 0x2d) {
    if (digits.length !== 2 || digits[1] !== 0x31) throw EINVAL;
    index = -1;
  } else {
    // An empty "[]" has no digits and reads as 0, as in subjson.
    index = 0;
    for (const c of digits) {
      if (c < 0x30 || c > 0x39) throw EINVAL;
      index = index * 10 + (c - 0x30);
    }
    if (!Number.isSafeInteger(index)) index = Number.MAX_SAFE_INTEGER;
  }
  if (out.length === MAX_PATH_COMPONENTS) throw E2BIG;
  out.push({ index });
}

/** Parses one string component at the start of `s`; returns the bytes consumed. */
function addString(out: PathComponent[], s: Buffer): number {
  let inJsonEscape = false;
  let inBackticks = false;
  let backticks = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inJsonEscape) {
      if (!allowedEscape(c)) throw EINVAL; // also refuses '\u': subjson cannot match those
      inJsonEscape = false;
    } else if (c === BACKSLASH) inJsonEscape = true;
    else if (c === 0x22 || c < 0x1f) throw EINVAL;
    if (c === BACKTICK) {
      backticks++;
      inBackticks = !inBackticks;
    }
    if (inBackticks) continue;
    if (c === CLOSE) throw EINVAL;
    if (c === OPEN || c === DOT) {
      pushKey(out, s.subarray(0, i), backticks);
      return c === DOT ? i + 1 : i;
    }
  }
  if (inBackticks || inJsonEscape) throw EINVAL;
  pushKey(out, s, backticks);
  return s.length;
}

function pushKey(out: PathComponent[], raw: Buffer, backticks: number): void {
  let key = raw;
  if (key.length > 1 && key[0] === BACKTICK && key[key.length - 1] === BACKTICK) {
    key = key.subarray(1, key.length - 1);
    backticks -= 2;
  }
  if (out.length === MAX_PATH_COMPONENTS) throw E2BIG;
  if (key.length === 0) throw EINVAL;
  if (backticks) {
    const b: number[] = [];
    for (let i = 0; i < key.length; i++) {
      if (key[i] !== BACKTICK) b.push(key[i]);
      else if (i + 1 < key.length && key[i + 1] === BACKTICK) b.push(key[i++]);
    }
    key = Buffer.from(b);
  } else key = Buffer.from(key);
  out.push({ key });
}

/** The component that decides the root of a document created by MKDOC (subjson Util::get_root_type). */
export function pathStartsWithIndex(path: Uint8Array): boolean {
  return path.length > 0 && path[0] === OPEN;
}
