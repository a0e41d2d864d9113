// The JSON value of a DCP STREAM_REQ (0x53), kv_engine's
// docs/dcp/documentation/commands/stream-request-value.md: `collections` (array of collection ids
// as base-16 strings without 0x), or `scope` (one scope id, base-16), never both; `uid` (manifest
// uid, base-16; optional, kv_engine only logs it); `sid` (stream id 1..65535, a JSON integer, only
// with `enable_stream_id`); `purge_seqno` (decimal string). Unknown keys are ignored by the server;
// the decoder here keeps to the same validation rules ("Validation" in that document).
import { ErrBadValue, ErrEncode } from './errors.js';

export interface StreamRequestFilter {
  /** Only these collection ids. */
  collections?: readonly number[];
  /** Only the collections of this scope id (including ones created later in it). */
  scope?: number;
  /** Manifest uid the client last saw (resumption). */
  uid?: number;
  /** Stream id (1..65535) when the connection enabled stream ids. */
  sid?: number;
  /** Purge seqno the client last saw. */
  purgeSeqno?: number;
}

const HEX = /^[0-9a-f]{1,8}$/i;
const HEX_UID = /^[0-9a-f]{1,16}$/i;

function id(what: string, v: number): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw ErrEncode(`${what} ${String(v)} is not a u32`);
  return v.toString(16);
}

/** The stream-request value for a filter; undefined when it says nothing (an unfiltered stream). */
export function encodeStreamRequestFilter(f: StreamRequestFilter): Buffer | undefined {
  if (f.collections !== undefined && f.scope !== undefined)
    throw ErrEncode('a stream filter takes collections or a scope, not both');
  const out: Record<string, unknown> = {};
  if (f.uid !== undefined) {
    if (!Number.isSafeInteger(f.uid) || f.uid < 0) throw ErrEncode(`uid ${String(f.uid)} is not a u64`);
    out.uid = f.uid.toString(16);
  }
  if (f.sid !== undefined) {
    if (!Number.isInteger(f.sid) || f.sid < 1 || f.sid > 0xffff) throw ErrEncode('sid must be 1..65535');
    out.sid = f.sid;
  }
  if (f.collections !== undefined) {
    if (f.collections.length === 0) throw ErrEncode('a collections filter needs at least one id');
    out.collections = [...new Set(f.collections.map((c) => id('collection id', c)))];
  }
  if (f.scope !== undefined) out.scope = id('scope id', f.scope);
  if (f.purgeSeqno !== undefined) {
    if (!Number.isSafeInteger(f.purgeSeqno) || f.purgeSeqno < 0) throw ErrEncode('purgeSeqno must be a u64');
    out.purge_seqno = String(f.purgeSeqno);
  }
  return Object.keys(out).length ? Buffer.from(JSON.stringify(out)) : undefined;
}

/** Parses a stream-request value with kv_engine's checks; throws TRIB_BAD_VALUE. */
export function decodeStreamRequestFilter(value: Uint8Array): StreamRequestFilter {
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
  } catch {
    throw ErrBadValue('stream request value is not JSON');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j))
    throw ErrBadValue('stream request value is not a JSON object');
  const o = j as Record<string, unknown>;
  const out: StreamRequestFilter = {};
  if (o.collections !== undefined && o.scope !== undefined)
    throw ErrBadValue('collections and scope cannot both be given');
  if (o.uid !== undefined) {
    if (typeof o.uid !== 'string' || !HEX_UID.test(o.uid)) throw ErrBadValue('uid must be a base-16 string');
    const uid = BigInt(`0x${o.uid}`);
    if (uid > BigInt(Number.MAX_SAFE_INTEGER)) throw ErrBadValue('uid above 2^53-1');
    out.uid = Number(uid);
  }
  if (o.sid !== undefined) {
    if (typeof o.sid !== 'number' || !Number.isInteger(o.sid) || o.sid < 1 || o.sid > 0xffff)
      throw ErrBadValue('sid must be an integer 1..65535');
    out.sid = o.sid;
  }
  if (o.collections !== undefined) {
    if (!Array.isArray(o.collections)) throw ErrBadValue('collections must be an array');
    out.collections = o.collections.map((c) => {
      if (typeof c !== 'string' || !HEX.test(c)) throw ErrBadValue('collection ids must be base-16 strings');
      return Number.parseInt(c, 16);
    });
  }
  if (o.scope !== undefined) {
    if (typeof o.scope !== 'string' || !HEX.test(o.scope))
      throw ErrBadValue('scope must be a base-16 string');
    out.scope = Number.parseInt(o.scope, 16);
  }
  if (o.purge_seqno !== undefined) {
    if (typeof o.purge_seqno !== 'string' || !/^\d{1,16}$/.test(o.purge_seqno))
      throw ErrBadValue('purge_seqno must be a decimal string');
    const p = Number(o.purge_seqno);
    if (!Number.isSafeInteger(p)) throw ErrBadValue('purge_seqno above 2^53-1');
    out.purgeSeqno = p;
  }
  return out;
}
