// The channel clock log and the index state record.
//
// Rewriting every touched channel's whole clock (up to one pair per vbucket) in every batch made a
// batch cost (channels touched × vbuckets) and grew with the index. Instead each batch appends one
// record `P "cl/" counter12` holding only the clock pairs it changed; every so often (and on
// rollback) a checkpoint writes the full clocks of the channels changed since the last checkpoint to
// `P "v/" channel` and deletes the records it covers. A channel's clock is its `v/` value merged
// (max per vbucket) with the records after the checkpoint. Readers in other processes read the
// records as their change feed: which channels moved in which batch, without a read per channel.

import { textLength, writeText } from './records.js';
import { VarintReader, varintSize, writeVarint } from './varint.js';

/** Per channel, the vbucket seqnos a batch raised. */
export type ClockUpdates = Map<string, Map<number, number>>;

const truncatedRecord = (): never => {
  throw new Error('truncated clock log record');
};

/**
 * One batch's clock pairs, grouped by channel: channel j's `counts[j]` pairs are the next ones in
 * `vbs`/`seqs`. A vbucket may come more than once in a channel; the last pair of it counts (a batch
 * writes each vbucket's seqnos in ascending order). Flat arrays, not a Map per channel: a batch
 * names hundreds of channels, and building their Maps cost more than the rest of its clock work.
 * The writer reuses its arrays from batch to batch, so they may be longer than what they hold:
 * `channels` and `pairs` say how much counts (the arrays' lengths when omitted).
 */
export interface ClockPairs {
  names: readonly string[];
  counts: ArrayLike<number>;
  vbs: ArrayLike<number>;
  seqs: ArrayLike<number>;
  channels?: number;
  pairs?: number;
}

/** One batch's record: channel count, then per channel its name and (vbucket, seqno) pairs. */
export function encodeClockPairs(p: ClockPairs): Buffer {
  const { names, counts, vbs, seqs } = p;
  const channels = p.channels ?? names.length;
  const pairs = p.pairs ?? vbs.length;
  // (sized first, then written into one buffer: a batch names up to thousands of channels)
  let size = varintSize(channels);
  for (let j = 0; j < channels; j++) {
    const len = textLength(names[j]!);
    size += varintSize(len) + len + varintSize(counts[j]!);
  }
  for (let k = 0; k < pairs; k++) size += varintSize(vbs[k]!) + varintSize(seqs[k]!);
  const out = Buffer.allocUnsafe(size);
  let o = writeVarint(out, 0, channels);
  let k = 0;
  for (let j = 0; j < channels; j++) {
    const ch = names[j]!;
    const len = textLength(ch);
    o = writeVarint(out, o, len);
    o = writeVarint(out, o + writeText(out, o, ch), counts[j]!);
    for (const end = k + counts[j]!; k < end; k++)
      o = writeVarint(out, writeVarint(out, o, vbs[k]!), seqs[k]!);
  }
  return out;
}

/** The same record from per-channel Maps (tests, tools). */
export function encodeClockUpdates(updates: ClockUpdates): Buffer {
  const names: string[] = [];
  const counts: number[] = [];
  const vbs: number[] = [];
  const seqs: number[] = [];
  for (const [ch, pairs] of updates) {
    names.push(ch);
    counts.push(pairs.size);
    for (const [vb, seq] of pairs) {
      vbs.push(vb);
      seqs.push(seq);
    }
  }
  return encodeClockPairs({ names, counts, vbs, seqs });
}

export function decodeClockUpdates(bytes: Uint8Array): ClockUpdates {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new VarintReader(b, truncatedRecord);
  const out: ClockUpdates = new Map();
  const n = r.varint();
  for (let c = 0; c < n; c++) {
    const len = r.varint();
    if (r.i + len > b.length) throw new Error('truncated clock log record');
    const ch = b.toString('utf8', r.i, r.i + len);
    r.i += len;
    const pairs = new Map<number, number>();
    const k = r.varint();
    for (let j = 0; j < k; j++) {
      const vb = r.varint();
      pairs.set(vb, r.varint());
    }
    out.set(ch, pairs);
  }
  return out;
}

/** Merges `updates` into `into` (max per vbucket); returns the channels whose clock moved. */
export function mergeUpdates(into: ClockUpdates, updates: ClockUpdates): void {
  for (const [ch, pairs] of updates) {
    let c = into.get(ch);
    if (!c) into.set(ch, (c = new Map()));
    for (const [vb, seq] of pairs) if (seq > (c.get(vb) ?? 0)) c.set(vb, seq);
  }
}

// The state record `P "s"`: the batch counter and the stable clock as a counter + clock (what
// pollers read, one key), plus two pseudo-vbuckets beyond the vbucket range: the checkpoint
// counter (clock records after it are live), the rollback epoch (bumped by every rollback) and the
// block size (a layout parameter: readers and later writers must use the one the index was built with).
const CK_VB = 0x10000;
const EPOCH_VB = 0x10001;
const BLOCK_VB = 0x10002;
const PART_VB = 0x10003;

export interface IndexState {
  counter: number;
  stable: Map<number, number>;
  checkpoint: number;
  epoch: number;
  /** 0 when the record predates it. */
  blockSize: number;
  /** Vbuckets per block (0 when the record predates it). */
  vbucketsPerBlock: number;
}

export function withStateFields(
  stable: ReadonlyMap<number, number>,
  checkpoint: number,
  epoch: number,
  blockSize: number,
  vbucketsPerBlock: number,
): Map<number, number> {
  const m = new Map(stable);
  for (const [k, v] of stateFields(checkpoint, epoch, blockSize, vbucketsPerBlock)) m.set(k, v);
  return m;
}

/** The state record's fields alone, as pseudo-vbucket pairs (encodeClock's `extra`). */
export function stateFields(
  checkpoint: number,
  epoch: number,
  blockSize: number,
  vbucketsPerBlock: number,
): Map<number, number> {
  const m = new Map<number, number>();
  if (checkpoint > 0) m.set(CK_VB, checkpoint);
  if (epoch > 0) m.set(EPOCH_VB, epoch);
  m.set(BLOCK_VB, blockSize);
  m.set(PART_VB, vbucketsPerBlock);
  return m;
}

export function splitState(counter: number, clock: Map<number, number>): IndexState {
  const checkpoint = clock.get(CK_VB) ?? 0;
  const epoch = clock.get(EPOCH_VB) ?? 0;
  const blockSize = clock.get(BLOCK_VB) ?? 0;
  const vbucketsPerBlock = clock.get(PART_VB) ?? 0;
  clock.delete(CK_VB);
  clock.delete(EPOCH_VB);
  clock.delete(BLOCK_VB);
  clock.delete(PART_VB);
  return { counter, stable: clock, checkpoint, epoch, blockSize, vbucketsPerBlock };
}
