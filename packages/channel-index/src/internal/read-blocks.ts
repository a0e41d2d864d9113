// The read side of channel index blocks: one page of changes for a set of channels from a since
// clock. A block holds several vbuckets' entries (keys.ts), each vbucket's in seqno order, so a
// read filters by vbucket and seqno as it decodes, reads newest first when that reads little, and
// stops at a chunk boundary once it has about two pages. No index state: the caller passes the
// snapshot (stable clock, channel clocks) and the store.
import type { Store } from '@tributary/core';
import type { VectorClock } from '../since-token.js';
import type { Keys } from './keys.js';
import { type BlockEntry, decodeEntries, EntryState } from './records.js';

/** What the reads need of the index. */
export interface BlockReads {
  store: Store;
  keys: Keys;
  blockSize: number;
  vbucketsPerBlock: number;
  /** A newest-first read found more than a page and went forward instead. */
  onAbandoned(): void;
}

/** Per vbucket, the seqnos wanted: (lo, hi]. */
type Want = Map<number, [number, number]>;

/** One document's change in a page (its entries in the channels asked for, merged). */
export interface Candidate {
  vb: number;
  seq: number;
  id: string;
  rev: string;
  active: boolean;
  deleted: boolean;
  removed: string[];
}

/**
 * The first `limit` changes after `since` in `channels` (each document once, at its latest change
 * within what was read), in a stable order: seqno, then vbucket. `next` is the clock to resume
 * from; `complete` says the page holds everything the snapshot's batches wrote after `since` (so a
 * read from `next` needs only what later batches write: `sinceGen`).
 */
export async function pageCandidates(
  r: BlockReads,
  snap: { stable: ReadonlyMap<number, number>; clocks: ReadonlyMap<string, ReadonlyMap<number, number>> },
  channels: string[],
  since: VectorClock,
  limit: number,
  activeOnly: boolean,
  sinceGen: number | undefined,
): Promise<{ cands: Candidate[]; next: Map<number, number>; complete: boolean }> {
  const vbs = new Map<number, number>(); // vb → highest clock among channels
  for (const clock of snap.clocks.values()) {
    for (const [vb, s] of clock) {
      if (s > (since.get(vb) ?? 0) && s > (vbs.get(vb) ?? 0)) vbs.set(vb, s);
    }
  }
  // Per vbucket, how far this page reads: the stable clock, lowered where a read stops early.
  const bound = new Map<number, number>();
  for (const [vb, top] of vbs) {
    const hi = Math.min(snap.stable.get(vb) ?? 0, top);
    if (hi > (since.get(vb) ?? 0)) bound.set(vb, hi);
  }
  // One read per channel and partition (a block holds vbucketsPerBlock vbuckets' entries), each
  // bounded to about two pages: reading every vbucket's whole backlog would make a page cost as
  // much as all of it.
  const reads: { ch: string; part: number; want: Want }[] = [];
  for (const ch of channels) {
    const clock = snap.clocks.get(ch)!;
    const parts = new Map<number, Want>();
    for (const [vb, hi] of bound) {
      const lo = since.get(vb) ?? 0;
      const c = clock.get(vb) ?? 0;
      if (c <= lo) continue;
      const part = Math.floor(vb / r.vbucketsPerBlock);
      let want = parts.get(part);
      if (!want) parts.set(part, (want = new Map()));
      want.set(vb, [lo, Math.min(hi, c)]);
    }
    for (const [part, want] of parts) reads.push({ ch, part, want });
  }
  const cap = 2 * limit;
  const got = await Promise.all(reads.map((x) => readChannelPart(r, x.ch, x.part, x.want, cap, sinceGen)));
  let complete = true;
  const byVb = new Map<number, Map<number, Candidate>>();
  // (in channel order, so each entry's removed list is too)
  for (let i = 0; i < reads.length; i++) {
    const { ch, want } = reads[i]!;
    const { entries, complete: upTo } = got[i]!;
    // (a vbucket whose own position is past where the read stopped stays where it is)
    if (upTo) {
      complete = false;
      for (const [vb, [lo]] of want) {
        const c = upTo.get(vb)!;
        if (c < bound.get(vb)!) bound.set(vb, Math.max(lo, c));
      }
    }
    for (const e of entries) {
      let bySeq = byVb.get(e.vb);
      if (!bySeq) byVb.set(e.vb, (bySeq = new Map()));
      let cand = bySeq.get(e.seq);
      if (!cand)
        bySeq.set(
          e.seq,
          (cand = {
            vb: e.vb,
            seq: e.seq,
            id: e.id,
            rev: e.rev,
            active: false,
            deleted: false,
            removed: [],
          }),
        );
      if (e.state === EntryState.Active) cand.active = true;
      else if (e.state === EntryState.Deleted) cand.deleted = true;
      else cand.removed.push(ch);
    }
  }
  const perVb: { vb: number; list: Candidate[]; bound: number }[] = [];
  for (const [vb, b] of bound) {
    // Keep each document once, at its latest change within the bound.
    const latest = new Map<string, Candidate>();
    for (const cand of byVb.get(vb)?.values() ?? []) {
      if (cand.seq > b) continue;
      const cur = latest.get(cand.id);
      if (!cur || cand.seq > cur.seq) latest.set(cand.id, cand);
    }
    const list = [...latest.values()].sort((x, y) => x.seq - y.seq);
    perVb.push({ vb, list, bound: b });
  }
  // Stable order: by seqno, then vbucket; a page is a prefix of it.
  const all: Candidate[] = [];
  for (const v of perVb) for (const c of v.list) all.push(c);
  all.sort((a, b) => a.seq - b.seq || a.vb - b.vb);
  const next = new Map(since);
  const out: Candidate[] = [];
  const consumed = new Map<number, number>();
  let i = 0;
  for (; i < all.length && out.length < limit; i++) {
    const c = all[i]!;
    consumed.set(c.vb, c.seq);
    if (activeOnly && !c.active) continue;
    out.push(c);
  }
  const done = i >= all.length;
  const remainingVbs = new Set<number>();
  if (!done) for (let j = i; j < all.length; j++) remainingVbs.add(all[j]!.vb);
  for (const v of perVb) {
    if (!remainingVbs.has(v.vb)) next.set(v.vb, v.bound);
    else if (consumed.has(v.vb)) next.set(v.vb, consumed.get(v.vb)!);
  }
  return { cands: out, next, complete: done && complete };
}

/**
 * Channel `ch`'s entries in partition `part` for the vbuckets in `want` (vb → [lo, hi]: seqnos in
 * (lo, hi]), in key order. Once `cap` entries are in it stops after the chunk it is in, and
 * `complete` says up to which seqno each wanted vbucket is read: a block's chunks are in write
 * order, so each vbucket's entries are in seqno order and everything up to the last one seen is
 * in (a vbucket not seen in the last block is read up to that block's start). Undefined: all of it.
 */
export async function readChannelPart(
  r: BlockReads,
  ch: string,
  part: number,
  want: Want,
  cap: number,
  sinceGen: number | undefined,
): Promise<{ entries: BlockEntry[]; complete?: Map<number, number> }> {
  const K = r.keys;
  const B = r.blockSize;
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (const [l, h] of want.values()) {
    if (l < lo) lo = l;
    if (h > hi) hi = h;
  }
  const first = Math.floor((lo + 1) / B);
  const last = Math.floor(hi / B);
  // Newest first when that reads little (a woken reader's few new entries); a backlog of more
  // than `cap` found that way is read forward from its start, a page at a time, instead.
  if (sinceGen !== undefined || first === last) {
    const entries: BlockEntry[] = [];
    let small = true;
    for (let b = first; b <= last && small; b++) {
      const got = await readBlockBack(r, ch, part, b, want, cap - entries.length, sinceGen);
      if (got === undefined) small = false;
      else for (const e of got) entries.push(e);
    }
    if (small) return { entries };
    r.onAbandoned();
  }
  // per wanted vbucket, the last seqno seen in the current block
  const seen = new Map<number, number>();
  const keep = (vb: number, seq: number) => {
    const w = want.get(vb);
    if (w === undefined) return false;
    seen.set(vb, seq);
    return seq > w[0] && seq <= w[1];
  };
  const entries: BlockEntry[] = [];
  let blk = -1;
  for await (const { key, value } of r.store.scan({
    gte: K.block(ch, part, first),
    lt: K.block(ch, part, last + 1),
  })) {
    const b = K.blockOfChunk(key);
    if (b !== blk) {
      blk = b;
      seen.clear();
    }
    for (const e of decodeEntries(value, keep)) entries.push(e);
    if (entries.length >= cap) {
      const complete = new Map<number, number>();
      for (const vb of want.keys()) complete.set(vb, seen.get(vb) ?? blk * B - 1);
      return { entries, complete };
    }
  }
  return { entries };
}

/**
 * One block's entries for `want` (as #readChannelPart), read newest chunk first: what a woken
 * reader asks for is at the end of a block that may hold every vbucket's last `blockSize`
 * seqnos (a busy channel's, "*" above all). Each vbucket's entries are in seqno order, so once a
 * vbucket shows an entry at or below its lo, older chunks hold nothing more of it; the read
 * stops when every wanted vbucket has, or at the block's start. With `sinceGen` (nothing above
 * lo was written by batch sinceGen or before) it also stops after the first chunk that batch
 * sinceGen or an earlier one started: later batches start chunks of their own, and only the one
 * chunk that was the newest then can have been extended since. Undefined once more than `max`
 * entries are found (the caller reads forward instead).
 */
async function readBlockBack(
  r: BlockReads,
  ch: string,
  part: number,
  blk: number,
  want: Want,
  max: number,
  sinceGen?: number,
): Promise<BlockEntry[] | undefined> {
  const open = new Set(want.keys());
  const keep = (vb: number, seq: number) => {
    const w = want.get(vb);
    if (w === undefined) return false;
    if (seq <= w[0]) {
      open.delete(vb);
      return false;
    }
    return seq <= w[1];
  };
  const chunks: BlockEntry[][] = [];
  let n = 0;
  for await (const { key, value } of r.store.scan({
    prefix: r.keys.block(ch, part, blk),
    reverse: true,
  })) {
    const got = decodeEntries(value, keep);
    chunks.push(got);
    n += got.length;
    if (n > max) return undefined;
    if (open.size === 0) break;
    if (sinceGen !== undefined && r.keys.counterOfChunk(key) <= sinceGen) break;
  }
  return chunks.reverse().flat();
}
