// The default channelsOf straight from a document's bytes: what
// `defaultChannelsOf(key, JSON.parse(value.toString('utf8')))` gives (a failed parse counting as no
// body), without building the document. The write path parses every mutation's body only to read
// this one field, and the parse (its objects and strings, then their collection) was the largest
// single cost of indexing a small document.
//
// The scan checks the whole document against the JSON grammar, so a document JSON.parse rejects
// gives no channels here too. It works on bytes: every byte of JSON's structure is ASCII, and
// UTF-8 decoding leaves ASCII bytes as they are, so the structure seen here is the one the decoded
// text has (other bytes only occur inside strings, where any character is allowed, or are errors
// outside them, as any non-ASCII character is). The one thing it leaves to JSON.parse: a top-level
// key with an escape (it might spell "channels"), and nesting deeper than MAX_DEPTH (where JSON.parse
// may run out of stack); it then answers PARSE.
import { defaultChannelsOf } from '../channels-of.js';

/** channelsField's answer when only a full parse can tell. */
export const PARSE: unique symbol = Symbol('parse');

const MAX_DEPTH = 256;
const OBJ = 1;
const ARR = 2;
const stack = new Uint8Array(MAX_DEPTH);
/** Set by scanString: whether the string it just read had an escape. */
let escaped = false;

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && isWs(b[i]!)) i++;
  return i;
}

/** The index after the string starting at `i` (a quote), or -1 if it is not a valid one. */
function scanString(b: Uint8Array, i: number): number {
  const n = b.length;
  escaped = false;
  i++;
  while (i < n) {
    const c = b[i++]!;
    if (c === 0x22) return i;
    if (c === 0x5c) {
      escaped = true;
      if (i >= n) return -1;
      const e = b[i++]!;
      if (e === 0x75) {
        if (i + 4 > n || !isHex(b[i]!) || !isHex(b[i + 1]!) || !isHex(b[i + 2]!) || !isHex(b[i + 3]!))
          return -1;
        i += 4;
      } else if (
        e !== 0x22 &&
        e !== 0x5c &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      )
        return -1;
    } else if (c < 0x20) return -1;
  }
  return -1;
}

function scanDigits(b: Uint8Array, i: number): number {
  if (i >= b.length || !isDigit(b[i]!)) return -1;
  while (i < b.length && isDigit(b[i]!)) i++;
  return i;
}

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? from `i`: the index after it, or -1. */
function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if ((i = scanDigits(b, i)) < 0) return -1;
  if (b[i] === 0x2e && (i = scanDigits(b, i + 1)) < 0) return -1;
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if ((i = scanDigits(b, i)) < 0) return -1;
  }
  return i;
}

function scanLiteral(b: Uint8Array, i: number, word: string): number {
  if (i + word.length > b.length) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** The index after the JSON value at `i`: -1 if it is not a valid one, -2 if nested too deep. */
function scanValue(b: Uint8Array, i: number): number {
  let depth = 0;
  for (;;) {
    // a value at i
    i = skipWs(b, i);
    const c = b[i];
    if (c === 0x7b || c === 0x5b) {
      i = skipWs(b, i + 1);
      if (b[i] === (c === 0x7b ? 0x7d : 0x5d)) i++;
      else {
        if (depth === MAX_DEPTH) return -2;
        stack[depth++] = c === 0x7b ? OBJ : ARR;
        if (c === 0x7b && (i = member(b, i)) < 0) return -1;
        continue;
      }
    } else if (c === 0x22) i = scanString(b, i);
    else if (c === 0x2d || (c !== undefined && isDigit(c))) i = scanNumber(b, i);
    else if (c === 0x74) i = scanLiteral(b, i, 'true');
    else if (c === 0x66) i = scanLiteral(b, i, 'false');
    else if (c === 0x6e) i = scanLiteral(b, i, 'null');
    else return -1;
    if (i < 0) return -1;
    // after a value: close containers, or go on to the next element
    for (;;) {
      if (depth === 0) return i;
      i = skipWs(b, i);
      const d = b[i];
      const top = stack[depth - 1];
      if (d === 0x2c) {
        i++;
        if (top === OBJ && (i = member(b, skipWs(b, i))) < 0) return -1;
        break;
      }
      if (d !== (top === OBJ ? 0x7d : 0x5d)) return -1;
      i++;
      depth--;
    }
  }
}

/** A member's key and colon at `i`: the index where its value starts, or -1. */
function member(b: Uint8Array, i: number): number {
  if (b[i] !== 0x22 || (i = scanString(b, i)) < 0) return -1;
  i = skipWs(b, i);
  return b[i] === 0x3a ? i + 1 : -1;
}

const CHANNELS = Buffer.from('"channels"', 'latin1');

function isChannelsKey(b: Uint8Array, from: number, to: number): boolean {
  if (to - from !== CHANNELS.length) return false;
  for (let k = 0; k < CHANNELS.length; k++) if (b[from + k] !== CHANNELS[k]) return false;
  return true;
}

/**
 * What the default channelsOf gives for the document `value` (as above), or PARSE when only a full
 * parse can tell. A list of names it reads itself goes in `into` (the write path passes one array
 * for every document: it reads the names before the next one).
 */
export function channelsField(
  value: Buffer,
  into: string[] = [],
): ReturnType<typeof defaultChannelsOf> | typeof PARSE {
  const b = value;
  let i = skipWs(b, 0);
  // (not an object: JSON.parse either fails or gives something without the field)
  if (b[i] !== 0x7b) return undefined;
  i = skipWs(b, i + 1);
  let start = -1;
  let end = -1;
  if (b[i] === 0x7d) i++;
  else {
    for (;;) {
      const k = i;
      if (b[i] !== 0x22 || (i = scanString(b, i)) < 0) return undefined;
      // (an escaped key might spell "channels": JSON.parse decides)
      if (escaped) return PARSE;
      const isChannels = isChannelsKey(b, k, i);
      i = skipWs(b, i);
      if (b[i] !== 0x3a) return undefined;
      const v = skipWs(b, i + 1);
      i = scanValue(b, v);
      if (i === -2) return PARSE;
      if (i < 0) return undefined;
      // (a later duplicate wins, as in JSON.parse)
      if (isChannels) {
        start = v;
        end = i;
      }
      i = skipWs(b, i);
      if (b[i] === 0x2c) {
        i = skipWs(b, i + 1);
        continue;
      }
      if (b[i] !== 0x7d) return undefined;
      i++;
      break;
    }
  }
  if (skipWs(b, i) !== b.length || start < 0) return undefined;
  return channelsValue(b, start, end, into);
}

/** The default channelsOf's answer for the field's value, the JSON text in [start, end). */
function channelsValue(
  b: Buffer,
  start: number,
  end: number,
  out: string[],
): ReturnType<typeof defaultChannelsOf> {
  let n = 0;
  if (b[start] === 0x22) {
    scanString(b, start);
    if (!escaped) {
      out[n++] = b.toString('utf8', start + 1, end - 1);
      out.length = n;
      return out;
    }
  } else if (b[start] === 0x5b) {
    // an array of strings without escapes, the usual case: each one sliced out
    let i = skipWs(b, start + 1);
    for (;;) {
      if (b[i] === 0x5d) {
        out.length = n;
        return out;
      }
      if (b[i] !== 0x22) break;
      const s = i;
      i = scanString(b, i);
      if (escaped) break;
      out[n++] = b.toString('utf8', s + 1, i - 1);
      i = skipWs(b, i);
      if (b[i] === 0x2c) i = skipWs(b, i + 1);
    }
  }
  // anything else (escapes, other types): the value alone, parsed
  return defaultChannelsOf('', { channels: JSON.parse(b.toString('utf8', start, end)) }, undefined as never);
}
