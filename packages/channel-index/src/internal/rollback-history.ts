// What the index remembers of its rollbacks, so a reader holding a since token from before one
// resumes from the rollback point instead of skipping the seqnos the new branch reuses.
//
// Stored at `P "r"`: varint floor epoch, then (epoch, vbucket, replayFrom) varint triples, oldest
// first. replayFrom is where a reader of that vbucket must resume: the rollback seqno, or lower
// when a document the rollback reverted now has its latest entry below it (so the reader gets that
// document's restored state again).

import { pushVarint, VarintReader } from './varint.js';

const truncatedHistory = (): never => {
  throw new Error('truncated rollback history');
};

export interface RollbackRecord {
  epoch: number;
  vb: number;
  replayFrom: number;
}

export interface RollbackHistory {
  /** Tokens from before this epoch predate the kept history: they restart from the beginning. */
  floor: number;
  records: RollbackRecord[];
}

/** Most rollbacks remembered; older tokens restart from the beginning. */
export const MAX_ROLLBACK_RECORDS = 4096;

export function encodeRollbacks(h: RollbackHistory): Buffer {
  const out: number[] = [];
  const put = (n: number) => pushVarint(out, n);
  put(h.floor);
  for (const r of h.records) {
    put(r.epoch);
    put(r.vb);
    put(r.replayFrom);
  }
  return Buffer.from(out);
}

export function decodeRollbacks(v: Uint8Array | undefined): RollbackHistory {
  if (!v || v.length === 0) return { floor: 0, records: [] };
  const r = new VarintReader(v, truncatedHistory);
  const read = () => r.varint();
  const floor = read();
  const records: RollbackRecord[] = [];
  while (!r.done) records.push({ epoch: read(), vb: read(), replayFrom: read() });
  return { floor, records };
}

/** Appends a record, dropping the oldest beyond MAX_ROLLBACK_RECORDS (raising the floor). */
export function addRollback(h: RollbackHistory, r: RollbackRecord): RollbackHistory {
  const records = [...h.records, r];
  let floor = h.floor;
  while (records.length > MAX_ROLLBACK_RECORDS) floor = records.shift()!.epoch;
  return { floor, records };
}

/**
 * The position a reader at (`since`, `epoch`) resumes from, given the rollbacks after `epoch`:
 * each rolled-back vbucket at most at its replay point. `changed` says whether anything moved.
 */
export function rewindSince(
  since: ReadonlyMap<number, number>,
  epoch: number,
  h: RollbackHistory,
): { clock: Map<number, number>; changed: boolean } {
  if (epoch < h.floor) return { clock: new Map(), changed: since.size > 0 };
  let clock: Map<number, number> | undefined;
  for (const r of h.records) {
    if (r.epoch <= epoch) continue;
    const cur = (clock ?? since).get(r.vb) ?? 0;
    if (cur > r.replayFrom) {
      clock ??= new Map(since);
      if (r.replayFrom > 0) clock.set(r.vb, r.replayFrom);
      else clock.delete(r.vb);
    }
  }
  return clock ? { clock, changed: true } : { clock: new Map(since), changed: false };
}
