import { ErrMetadata } from './errors.js';

export interface FailoverEntry {
  vbucketUuid: bigint;
  seqno: number;
}

/**
 * Per-vbucket metadata kept by the receiver (through setMetaData/getMetaData). Encoded as
 * cbdatasource's VBucketMetaData JSON, byte-compatible with it:
 * `{"seqStart":0,"seqEnd":0,"snapStart":0,"snapEnd":0,"failOverLog":[[uuid,seqno],...]}`
 * (UUIDs are full u64 JSON numbers; we parse them exactly as bigints).
 */
export interface VBucketMetaData {
  seqStart: number;
  seqEnd: number;
  snapStart: number;
  snapEnd: number;
  /** Newest first. */
  failOverLog: FailoverEntry[];
  /**
   * Collections streams: the manifest uid the vbucket's stream had reached (its last system
   * event), sent back as `uid` when the stream resumes. Absent for other streams (and then not
   * encoded, so the JSON stays cbdatasource's byte for byte).
   */
  manifestUid?: number;
}

export function emptyMetaData(): VBucketMetaData {
  return { seqStart: 0, seqEnd: 0, snapStart: 0, snapEnd: 0, failOverLog: [] };
}

export function encodeMetaData(m: VBucketMetaData): Uint8Array {
  const flog = m.failOverLog.map((e) => `[${e.vbucketUuid.toString()},${e.seqno}]`).join(',');
  const uid = m.manifestUid === undefined ? '' : `,"manifestUid":"${m.manifestUid.toString(16)}"`;
  return Buffer.from(
    `{"seqStart":${m.seqStart},"seqEnd":${m.seqEnd},"snapStart":${m.snapStart},"snapEnd":${m.snapEnd},"failOverLog":[${flog}]${uid}}`,
  );
}

const SEQ_FIELDS = ['seqStart', 'seqEnd', 'snapStart', 'snapEnd'] as const;

/** Parses metadata; undefined / empty bytes give the empty metadata. Throws TRIB_DATASOURCE_METADATA. */
export function decodeMetaData(vbucket: number, bytes: Uint8Array | undefined | null): VBucketMetaData {
  if (!bytes || bytes.length === 0) return emptyMetaData();
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw ErrMetadata(vbucket, 'not JSON', { cause: err });
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw ErrMetadata(vbucket, 'not a JSON object');
  const m = emptyMetaData();
  for (const f of SEQ_FIELDS) {
    const v = obj[f];
    if (v === undefined) continue;
    // seqEnd of a Go datasource may be 2^64-1 ("forever"): keep it as the largest safe integer.
    if (typeof v !== 'number' || !(v >= 0)) throw ErrMetadata(vbucket, `${f} is not a seqno`);
    m[f] = Math.min(v, Number.MAX_SAFE_INTEGER);
  }
  if (obj.manifestUid !== undefined) {
    const u = obj.manifestUid;
    if (typeof u !== 'string' || !/^[0-9a-f]{1,14}$/i.test(u))
      throw ErrMetadata(vbucket, 'manifestUid is not a hex uid');
    m.manifestUid = Number.parseInt(u, 16);
    if (!Number.isSafeInteger(m.manifestUid)) throw ErrMetadata(vbucket, 'manifestUid above 2^53-1');
  }
  const flog = obj.failOverLog;
  if (flog !== undefined && flog !== null) {
    if (!Array.isArray(flog)) throw ErrMetadata(vbucket, 'failOverLog is not an array');
    // Re-read the UUIDs from the text: JSON.parse rounds u64 numbers to doubles.
    const at = text.indexOf('"failOverLog"');
    const re = /\[\s*(\d+)\s*,\s*(\d+)\s*\]/g;
    re.lastIndex = at;
    for (let i = 0; i < flog.length; i++) {
      const match = re.exec(text);
      if (!match) throw ErrMetadata(vbucket, 'failOverLog entries must be [uuid, seqno]');
      m.failOverLog.push({
        vbucketUuid: BigInt(match[1]!),
        seqno: Math.min(Number(match[2]!), Number.MAX_SAFE_INTEGER),
      });
    }
  }
  return m;
}

/** The stream-request fields for a vbucket, from its metadata and the receiver's last seqno. */
export interface StreamStart {
  startSeqno: number;
  vbucketUuid: bigint;
  snapStart: number;
  snapEnd: number;
}

/**
 * cbdatasource's rules: start at the receiver's lastSeq; the vbuuid is the newest failover entry at
 * or below the start (0 when the receiver has nothing); the persisted snapshot range is used only
 * when it contains the start (snapStart ≤ start ≤ snapEnd), else start/start — so a restart never
 * earns an ERANGE and never resumes inside a snapshot it did not finish without the server knowing.
 */
export function streamStartFor(meta: VBucketMetaData, lastSeq: number): StreamStart {
  const start = Math.max(lastSeq, 0);
  let vbucketUuid = 0n;
  for (const e of meta.failOverLog) {
    if (e.seqno <= start) {
      vbucketUuid = e.vbucketUuid;
      break;
    }
  }
  if (start === 0) return { startSeqno: 0, vbucketUuid, snapStart: 0, snapEnd: 0 };
  if (meta.snapStart <= start && start <= meta.snapEnd) {
    return { startSeqno: start, vbucketUuid, snapStart: meta.snapStart, snapEnd: meta.snapEnd };
  }
  return { startSeqno: start, vbucketUuid, snapStart: start, snapEnd: start };
}

/** §4.3: after a rollback to `seq`, drop failover entries above it and reset the snapshot there. */
export function rolledBackMetaData(meta: VBucketMetaData, seq: number): VBucketMetaData {
  return {
    ...(meta.manifestUid !== undefined ? { manifestUid: meta.manifestUid } : {}),
    seqStart: Math.min(meta.seqStart, seq),
    seqEnd: meta.seqEnd,
    snapStart: seq,
    snapEnd: seq,
    failOverLog: meta.failOverLog.filter((e) => e.seqno <= seq),
  };
}

/** The vbuuid a rollback to `seq` resumes on: newest failover entry with seqno ≤ seq (0 if none). */
export function uuidForRollback(failOverLog: readonly FailoverEntry[], seq: number): bigint {
  for (const e of failOverLog) if (e.seqno <= seq) return e.vbucketUuid;
  return 0n;
}
