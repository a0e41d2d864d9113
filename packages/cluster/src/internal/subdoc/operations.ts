// The sub-document operations on one JSON text (kv_engine docs/SubDocument.md "Command
// Listings"), with the byte-level results of subjson's subdoc/operations.cc: the touched range
// is spliced, everything else in the document is kept as written (whitespace included), new
// dictionary keys go last, and commas are placed and removed exactly where subjson puts and
// takes them. Status codes are the wire values kv_engine's executor maps subjson's errors to
// (daemon/subdocument_context.cc operate_one_path), including its one surprise: a counter that
// would overflow answers VALUE_CANTINSERT (0xc5), not DELTA_EINVAL.

import {
  arrayElements,
  countChildren,
  isJsonWs,
  JsonScanError,
  JsonType,
  type Match,
  matchPath,
  scanValue,
  skipWs,
  typeAt,
} from './json-scan.js';
import { MAX_PATH_COMPONENTS, type PathComponent, parsePath } from './path.js';
import { SubdocOp, SubdocStatus } from './status.js';

export interface OpResult {
  status: number;
  /** The new document (mutations). */
  doc?: Buffer;
  /** The value to answer with (GET, COUNTER, GET_COUNT). */
  value?: Buffer;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** subjson Limits::MAX_COMPONENTS: the path depth budget, counting the implicit root. */
const LIMIT_COMPONENTS = MAX_PATH_COMPONENTS + 1;

const ValueMode = { Dict: 0, Array: 1, Unique: 2 } as const;

/**
 * subjson Operation::validate: a value for a dictionary entry is one JSON value; for an array,
 * one or more comma-separated values; for add-unique, one primitive. `maxDepth` is how deep the
 * value may nest (get_maxdepth: the path already uses the rest of the 32 levels).
 */
function validateValue(v: Buffer, mode: number, maxDepth: number): number {
  if (v.length === 0 || v.every(isJsonWs)) return SubdocStatus.ValueCantinsert;
  // jsonsl holds 32 levels and the validator wraps the value in one container.
  const limit = Math.min(maxDepth, 31);
  try {
    let i = skipWs(v, 0);
    for (;;) {
      if (mode === ValueMode.Unique) {
        const t = typeAt(v, i);
        if (t === JsonType.Object || t === JsonType.Array) return SubdocStatus.ValueCantinsert;
      }
      i = skipWs(v, scanValue(v, i, 1, limit));
      if (i === v.length) return SubdocStatus.Success;
      if (mode !== ValueMode.Array || v[i] !== 0x2c) return SubdocStatus.ValueCantinsert;
      i = skipWs(v, i + 1);
    }
  } catch (err) {
    if (err instanceof JsonScanError)
      return err.deep ? SubdocStatus.ValueEtoodeep : SubdocStatus.ValueCantinsert;
    throw err;
  }
}

function cat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}
const COMMA = Buffer.from(',');
const QUOTE = Buffer.from('"');
const COMMA_QUOTE = Buffer.from(',"');
const QUOTE_COLON = Buffer.from('":');

function matchDoc(doc: Buffer, path: readonly PathComponent[]): Match | number {
  try {
    return matchPath(doc, path);
  } catch (err) {
    if (err instanceof JsonScanError) return err.deep ? SubdocStatus.DocE2deep : SubdocStatus.DocNotJson;
    throw err;
  }
}

/** subjson do_mkdir_p: creates the missing dictionary keys below the deepest container found. */
function mkdirP(
  doc: Buffer,
  path: readonly PathComponent[],
  m: Match & { found: false },
  value: Buffer,
  array: boolean,
): OpResult {
  const first = path[m.level - 1];
  if (first === undefined || first.key === undefined) return { status: SubdocStatus.PathEnoent };
  const head: Buffer[] = [];
  if (m.childCount) head.push(COMMA);
  head.push(QUOTE, first.key, QUOTE_COLON);
  let closers = 0;
  for (let i = m.level; i < path.length; i++) {
    const c = path[i];
    if (c.key === undefined) return { status: SubdocStatus.PathEnoent };
    head.push(Buffer.from('{"'), c.key, QUOTE_COLON);
    closers++;
  }
  const close = m.end - 1;
  return {
    status: SubdocStatus.Success,
    doc: cat(
      doc.subarray(0, close),
      ...head,
      array ? Buffer.from('[') : Buffer.alloc(0),
      value,
      array ? Buffer.from(']') : Buffer.alloc(0),
      Buffer.from('}'.repeat(closers)),
      doc.subarray(close),
    ),
  };
}

/** subjson insert_singleton_element: the only element of an empty array. */
function singleton(doc: Buffer, m: { start: number; end: number }, value: Buffer): Buffer {
  return cat(doc.subarray(0, m.start + 1), value, doc.subarray(m.end - 1));
}

/** subjson do_store_dict (DICT_ADD, DICT_UPSERT, REPLACE; counters create through it too). */
function storeDict(
  doc: Buffer,
  path: readonly PathComponent[],
  m: Match,
  value: Buffer,
  op: number,
  mkdir: boolean,
): OpResult {
  if (op !== SubdocOp.Replace && path[path.length - 1].index !== undefined)
    return { status: SubdocStatus.PathEinval };
  if (!m.found) {
    if (op === SubdocOp.Replace) return { status: SubdocStatus.PathEnoent };
    if (!m.immediateParent)
      return mkdir ? mkdirP(doc, path, m, value, false) : { status: SubdocStatus.PathEnoent };
    const close = m.end - 1;
    return {
      status: SubdocStatus.Success,
      doc: cat(
        doc.subarray(0, close),
        m.childCount ? COMMA_QUOTE : QUOTE,
        path[path.length - 1].key!,
        QUOTE_COLON,
        value,
        doc.subarray(close),
      ),
    };
  }
  if (op === SubdocOp.DictAdd) return { status: SubdocStatus.PathEexists };
  return { status: SubdocStatus.Success, doc: cat(doc.subarray(0, m.start), value, doc.subarray(m.end)) };
}

/** subjson do_remove. */
function remove(doc: Buffer, m: Match & { found: true }): OpResult {
  let head = doc.subarray(0, m.keyStart >= 0 ? m.keyStart : m.start);
  let tail = doc.subarray(m.end);
  if (m.index > 0 || !m.isLast) {
    if (m.isLast) {
      const c = head.lastIndexOf(0x2c);
      if (c >= 0) head = head.subarray(0, c);
    } else {
      const c = tail.indexOf(0x2c);
      if (c >= 0) tail = tail.subarray(c + 1);
    }
  }
  return { status: SubdocStatus.Success, doc: cat(head, tail) };
}

function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** subjson do_empty_append: ARRAY_PUSH_LAST with an empty path, found by scanning from the end. */
function emptyAppend(doc: Buffer, value: Buffer): OpResult {
  let a = doc.length - 1;
  while (a > 0 && isCSpace(doc[a])) a--;
  if (a <= 0 || doc[a] !== 0x5d) {
    const c = doc[a];
    return { status: c === 0x5d || c === 0x7d ? SubdocStatus.PathMismatch : SubdocStatus.DocNotJson };
  }
  let e = a - 1;
  while (e > 0 && isJsonWs(doc[e])) e--;
  const head = doc.subarray(0, e + 1);
  if (doc[e] === 0x5b || doc[e] === 0x2c)
    return { status: SubdocStatus.Success, doc: cat(head, value, Buffer.from(']')) };
  if (!isCSpace(doc[e]))
    return { status: SubdocStatus.Success, doc: cat(head, COMMA, value, Buffer.from(']')) };
  return { status: SubdocStatus.DocNotJson };
}

/** subjson parse_int64 for a counter delta: a non-zero int64 without leading zeros or '+'. */
function parseDelta(v: Buffer): bigint | undefined {
  const s = v.toString('latin1');
  if (!/^-?[1-9][0-9]*$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** Runs one sub-document operation (`op` a SubdocOp opcode) on `doc`. */
export function runOperation(
  op: number,
  mkdir: boolean,
  doc: Buffer,
  rawPath: Uint8Array,
  value: Buffer,
): OpResult {
  const parsed = parsePath(rawPath);
  if (!parsed.ok) return { status: parsed.status };
  const path = parsed.components;
  // subjson get_maxdepth: PATH_HAS_NEWKEY leaves one more level than PATH_IS_PARENT.
  const newKeyDepth = LIMIT_COMPONENTS + 1 - (path.length + 1);
  const parentDepth = LIMIT_COMPONENTS - (path.length + 1);
  switch (op) {
    case SubdocOp.Get:
    case SubdocOp.Exists: {
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      if (!m.found) return { status: SubdocStatus.PathEnoent };
      return { status: SubdocStatus.Success, value: doc.subarray(m.start, m.end) };
    }
    case SubdocOp.GetCount: {
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      if (!m.found) return { status: SubdocStatus.PathEnoent };
      if (m.type !== JsonType.Object && m.type !== JsonType.Array)
        return { status: SubdocStatus.PathMismatch };
      return { status: SubdocStatus.Success, value: Buffer.from(String(countChildren(doc, m.start))) };
    }
    case SubdocOp.DictAdd:
    case SubdocOp.DictUpsert:
    case SubdocOp.Replace: {
      if (path.length === 0) return { status: SubdocStatus.ValueCantinsert };
      const st = validateValue(value, ValueMode.Dict, newKeyDepth);
      if (st !== SubdocStatus.Success) return { status: st };
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      return storeDict(doc, path, m, value, op, mkdir);
    }
    case SubdocOp.Delete: {
      if (path.length === 0) return { status: SubdocStatus.ValueCantinsert };
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      if (!m.found) return { status: SubdocStatus.PathEnoent };
      return remove(doc, m);
    }
    case SubdocOp.ArrayPushFirst: {
      const st = validateValue(value, ValueMode.Array, parentDepth);
      if (st !== SubdocStatus.Success) return { status: st };
      if (path.length === MAX_PATH_COMPONENTS) return { status: SubdocStatus.PathE2big };
      const m = matchDoc(doc, [...path, { index: 0 }]);
      if (typeof m === 'number') return { status: m };
      if (!m.found) {
        if (m.immediateParent) return { status: SubdocStatus.Success, doc: singleton(doc, m, value) };
        return mkdir ? mkdirP(doc, path, m, value, true) : { status: SubdocStatus.PathEnoent };
      }
      return {
        status: SubdocStatus.Success,
        doc: cat(doc.subarray(0, m.start), value, COMMA, doc.subarray(m.start)),
      };
    }
    case SubdocOp.ArrayPushLast:
    case SubdocOp.ArrayAddUnique: {
      const unique = op === SubdocOp.ArrayAddUnique;
      const st = validateValue(value, unique ? ValueMode.Unique : ValueMode.Array, parentDepth);
      if (st !== SubdocStatus.Success) return { status: st };
      if (path.length === 0 && !unique) return emptyAppend(doc, value);
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      if (!m.found) return mkdir ? mkdirP(doc, path, m, value, true) : { status: SubdocStatus.PathEnoent };
      if (m.type !== JsonType.Array) return { status: SubdocStatus.PathMismatch };
      const elements = arrayElements(doc, m.start);
      if (unique) {
        // subjson unique_callback: token text compared with the value as sent, in order; an
        // element that is not a primitive ends the search with PATH_MISMATCH.
        for (const e of elements) {
          const t = typeAt(doc, e.start);
          if (t === JsonType.Object || t === JsonType.Array) return { status: SubdocStatus.PathMismatch };
          if (t === JsonType.String && value.length < 2) continue;
          if (doc.subarray(e.start, e.end).equals(value)) return { status: SubdocStatus.PathEexists };
        }
      }
      if (elements.length === 0) return { status: SubdocStatus.Success, doc: singleton(doc, m, value) };
      const close = m.end - 1;
      return {
        status: SubdocStatus.Success,
        doc: cat(doc.subarray(0, close), COMMA, value, doc.subarray(close)),
      };
    }
    case SubdocOp.ArrayInsert: {
      const st = validateValue(value, ValueMode.Array, newKeyDepth);
      if (st !== SubdocStatus.Success) return { status: st };
      const last = path[path.length - 1];
      if (last === undefined || last.index === undefined || last.index < 0)
        return { status: SubdocStatus.PathEinval };
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      if (m.found)
        return {
          status: SubdocStatus.Success,
          doc: cat(doc.subarray(0, m.start), value, COMMA, doc.subarray(m.start)),
        };
      if (!m.immediateParent) return { status: SubdocStatus.PathEnoent };
      if (m.childCount === 0 && last.index === 0)
        return { status: SubdocStatus.Success, doc: singleton(doc, m, value) };
      if (last.index === m.childCount) {
        const close = m.end - 1;
        return {
          status: SubdocStatus.Success,
          doc: cat(doc.subarray(0, close), COMMA, value, doc.subarray(close)),
        };
      }
      return { status: SubdocStatus.PathEnoent };
    }
    case SubdocOp.Counter: {
      const delta = parseDelta(value);
      if (delta === undefined) return { status: SubdocStatus.DeltaEinval };
      const m = matchDoc(doc, path);
      if (typeof m === 'number') return { status: m };
      if (m.found) {
        const token = doc.subarray(m.start, m.end).toString('latin1');
        if (m.type !== JsonType.Number || !/^-?[0-9]+$/.test(token))
          return { status: SubdocStatus.PathMismatch };
        const cur = BigInt(token);
        if (cur < INT64_MIN || cur > INT64_MAX) return { status: SubdocStatus.NumErange };
        const next = cur + delta;
        // DELTA_OVERFLOW, which kv_engine answers as VALUE_CANTINSERT.
        if (next < INT64_MIN || next > INT64_MAX) return { status: SubdocStatus.ValueCantinsert };
        const out = Buffer.from(next.toString());
        return {
          status: SubdocStatus.Success,
          value: out,
          doc: cat(doc.subarray(0, m.start), out, doc.subarray(m.end)),
        };
      }
      if (!mkdir && !m.immediateParent) return { status: SubdocStatus.PathEnoent };
      if (m.type !== JsonType.Object) return { status: SubdocStatus.PathEnoent };
      const out = Buffer.from(delta.toString());
      const r = storeDict(doc, path, m, out, SubdocOp.DictAdd, true);
      if (r.status === SubdocStatus.Success) r.value = out;
      return r;
    }
    default:
      return { status: SubdocStatus.InvalidCombo };
  }
}

/** subjson Util::get_root_type: the root a MKDOC-created document starts as, or undefined. */
export function rootForNewDocument(op: number, rawPath: Uint8Array): '{}' | '[]' | undefined {
  const arrayOp =
    op === SubdocOp.ArrayPushFirst || op === SubdocOp.ArrayPushLast || op === SubdocOp.ArrayAddUnique;
  if (rawPath.length === 0) return arrayOp ? '[]' : undefined;
  return rawPath[0] === 0x5b ? '[]' : '{}';
}
