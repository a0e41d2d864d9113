// The optional JSON value of a DCP stream request, checked as kv_engine checks it before anything
// in it is used. kv_engine's docs/dcp/documentation/commands/stream-request-value.md ("Validation")
// says the request fails if `sid` is not a JSON integer or is 0, `uid` or `scope` is not a string,
// `collections` not an array, both `collections` and `scope` are given, or `purge_seqno` is not a
// string strtoull can read. kv_engine's Collections::VB::Filter reads `sid` as an unsigned JSON
// number (nlohmann `number_unsigned`: a negative or fractional one is invalid_arguments, EINVAL)
// and answers sid 0 with dcp_streamid_invalid (0x8d). A sid above 65535 does not fit the 16-bit
// stream id kv_engine narrows it to; where kv_engine would truncate it we refuse it with EINVAL.
// Unknown keys are ignored, as kv_engine does.
import { St } from './mcbp.js';

export interface StreamRequestValue {
  /** The stream id from the value (1..65535), if it named one. */
  sid?: number;
  collections?: unknown[];
  scope?: string;
  uid?: string;
  purgeSeqno?: number;
}

export type StreamRequestValueResult =
  | { ok: true; value: StreamRequestValue }
  | { ok: false; status: number; context: string };

const fail = (status: number, context: string): StreamRequestValueResult => ({ ok: false, status, context });

/** Parses and checks a stream request value (non-empty bytes). Never throws. */
export function parseStreamRequestValue(bytes: Buffer): StreamRequestValueResult {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return fail(St.Einval, 'stream request value is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return fail(St.Einval, 'stream request value is not a JSON object');
  const j = json as Record<string, unknown>;
  const out: StreamRequestValue = {};
  if (j.sid !== undefined) {
    const sid = j.sid;
    if (typeof sid !== 'number' || !Number.isInteger(sid) || sid < 0 || sid > 0xffff)
      return fail(St.Einval, 'sid must be an unsigned 16-bit integer');
    if (sid === 0) return fail(St.DcpStreamIdInvalid, 'sid 0 is not a stream id');
    out.sid = sid;
  }
  if (j.uid !== undefined) {
    if (typeof j.uid !== 'string') return fail(St.Einval, 'uid must be a string');
    out.uid = j.uid;
  }
  if (j.collections !== undefined && j.scope !== undefined)
    return fail(St.Einval, 'collections and scope cannot both be given');
  if (j.collections !== undefined) {
    if (!Array.isArray(j.collections)) return fail(St.Einval, 'collections must be an array');
    out.collections = j.collections;
  }
  if (j.scope !== undefined) {
    if (typeof j.scope !== 'string') return fail(St.Einval, 'scope must be a string');
    out.scope = j.scope;
  }
  if (j.purge_seqno !== undefined) {
    const p = j.purge_seqno;
    if (typeof p !== 'string' || !/^\d{1,20}$/.test(p))
      return fail(St.Einval, 'purge_seqno must be a decimal string');
    out.purgeSeqno = Number(p);
  }
  return { ok: true, value: out };
}
