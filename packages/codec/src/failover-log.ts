// Failover log: {u64 vbucket UUID, u64 seqno} × N, newest first (STREAM_REQ success, GET_FAILOVER_LOG).
import { ErrBadValue } from './errors.js';
import { readSeqno, writeSeqno, writeU64 } from './internal/wire.js';

export interface FailoverEntry {
  vbucketUuid: bigint;
  seqno: number;
}
/** Newest entry first. */
export type FailoverLog = FailoverEntry[];

export function encodeFailoverLog(log: readonly FailoverEntry[]): Buffer {
  const buf = Buffer.allocUnsafe(log.length * 16);
  for (let i = 0; i < log.length; i++) {
    writeU64(buf, i * 16, log[i].vbucketUuid, 'vbucketUuid');
    writeSeqno(buf, i * 16 + 8, log[i].seqno, 'seqno');
  }
  return buf;
}

/** Throws TRIB_BAD_VALUE when the length is not a multiple of 16, TRIB_BAD_FRAME for seqnos over 2^53−1. */
export function decodeFailoverLog(value: Uint8Array): FailoverLog {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buf.length % 16 !== 0) throw ErrBadValue(`failover log of ${buf.length} bytes is not a multiple of 16`);
  const out: FailoverLog = [];
  for (let o = 0; o < buf.length; o += 16) {
    out.push({ vbucketUuid: buf.readBigUInt64BE(o), seqno: readSeqno(buf, o + 8, 'failover seqno') });
  }
  return out;
}
