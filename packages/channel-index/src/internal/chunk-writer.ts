// The write side of channel index blocks: groups one batch's entries into runs (one channel, one
// block: a partition of vbuckets and a seqno range) and turns each run into one chunk put,
// extending the block's last chunk while it is small. Entries are encoded straight into the
// chunk's buffer from each mutation's fields (its id and rev bytes made once per mutation, shared
// by all of its channels): no entry object, no intermediate buffer, no key string per chunk. Byte layout: records.ts encodeEntries; key
// layout: keys.ts ("b/" channel 0x00 part4 blk14 counter12).
import type { BatchOp } from '@tributary/core';
import type { ClockPairs } from './clock-log.js';
import { Lru } from './lru.js';
import { entrySize, writeEntry } from './records.js';

/** One mutation's entry fields, shared by every channel entry it makes. */
export interface EntryDoc {
  vb: number;
  seq: number;
  /** The document id (for tests and diagnostics: the bytes are in `tail`). */
  id: string;
  /** The entry's id and rev bytes (records.ts entryTail). */
  tail: Buffer;
}

/** One channel's entries of one block in a batch: a linked list in BatchRuns' arrays. */
interface Run {
  ch: ChannelRuns;
  part: number;
  blk: number;
  /** blk * 65536 + part */
  bk: number;
  /** First and last entry (indexes into BatchRuns' entry arrays). */
  head: number;
  tail: number;
  bytes: number;
}

interface ChannelRuns {
  ch: string;
  id: ChannelId;
  /** The run an entry of the channel went to last (most channels have one run in a batch). */
  last: Run;
  /** Per block (blk * 65536 + part), its run: made when the channel has a second one. */
  byBlock: Map<number, Run> | undefined;
  /** The channel's entries in arrival order (first and last, linked through #chNext): its clock updates. */
  head: number;
  tail: number;
  count: number;
}

interface ChannelId {
  cid: number;
  /** P "b/" channel 0x00: the start of every chunk key of the channel. */
  prefix: Buffer;
}

interface Tail {
  blk: number;
  key: Buffer;
  bytes: Buffer;
}

export interface ChunkWriterOptions {
  /** P "b/": where chunk keys start. */
  blockPrefix: string;
  /** Blocks whose last chunk is kept to extend (0: never extend). */
  tailCacheSize: number;
  /** A block's last chunk is extended while it stays under this many bytes. */
  chunkBytes: number;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Writes `n` as `width` lowercase hex digits at `o` (n < 16^width, n a safe integer). */
function writeHex(out: Buffer, o: number, n: number, width: number): void {
  for (let i = o + width - 1; i >= o; i--) {
    const d = n % 16;
    out[i] = HEX[d]!;
    n = (n - d) / 16;
  }
}

/** Entries of one batch, grouped by channel and block in arrival order (ascending seqno per vbucket). */
export class BatchRuns {
  readonly channels = new Map<string, ChannelRuns>();
  readonly runs: Run[] = [];
  // Every entry of the batch in flat arrays, each run a linked list through `next` and each
  // channel one through `chNext` (most runs hold one entry: two arrays per run were most of the
  // write path's garbage).
  readonly #docs: EntryDoc[] = [];
  readonly #states: number[] = [];
  readonly #next: number[] = [];
  readonly #chNext: number[] = [];
  entries = 0;
  removals = 0;
  tombstones = 0;

  constructor(
    private readonly writer: ChunkWriter,
    private readonly blockSize: number,
    private readonly vbucketsPerBlock: number,
  ) {}

  add(ch: string, doc: EntryDoc, state: number): void {
    const blk = Math.floor(doc.seq / this.blockSize);
    const part = (doc.vb / this.vbucketsPerBlock) | 0;
    const bk = blk * 65536 + part;
    const i = this.#docs.length;
    this.#docs.push(doc);
    this.#states.push(state);
    this.#next.push(-1);
    this.#chNext.push(-1);
    let c = this.channels.get(ch);
    if (c === undefined) {
      const run = { ch: undefined as unknown as ChannelRuns, part, blk, bk, head: i, tail: i, bytes: 0 };
      c = { ch, id: this.writer.channelId(ch), last: run, byBlock: undefined, head: i, tail: i, count: 1 };
      run.ch = c;
      this.channels.set(ch, c);
      this.runs.push(run);
    } else {
      let run = c.last;
      if (run.bk !== bk) {
        // another block of the channel: runs by block from now on
        if (c.byBlock === undefined) c.byBlock = new Map([[run.bk, run]]);
        run = c.byBlock.get(bk) ?? this.#newRun(c, part, blk, bk, i);
        c.last = run;
      }
      if (run.head !== i) {
        this.#next[run.tail] = i;
        run.tail = i;
      }
      this.#chNext[c.tail] = i;
      c.tail = i;
      c.count++;
    }
    c.last.bytes += entrySize(doc.tail);
    this.entries++;
    if (state === 1) this.removals++;
    else if (state === 2) this.tombstones++;
  }

  #newRun(c: ChannelRuns, part: number, blk: number, bk: number, i: number): Run {
    const run: Run = { ch: c, part, blk, bk, head: i, tail: i, bytes: 0 };
    c.byBlock!.set(bk, run);
    this.runs.push(run);
    return run;
  }

  /** A run's entries in order, as [doc, state] (for tests and diagnostics). */
  *runEntries(run: Run): Generator<[EntryDoc, number]> {
    for (let i = run.head; i !== -1; i = this.#next[i]!) yield [this.#docs[i]!, this.#states[i]!];
  }

  /** A run's entries (records.ts layout), written at `o` (the run's `bytes` are free there). */
  encode(run: Run, out: Buffer, o: number): void {
    const docs = this.#docs;
    const states = this.#states;
    const next = this.#next;
    for (let i = run.head; i !== -1; i = next[i]!) {
      const d = docs[i]!;
      o = writeEntry(out, o, d.vb, d.seq, states[i]!, d.tail);
    }
  }

  /** The names of the channels this batch wrote in, in the order it first did. */
  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  /**
   * The clock pairs this batch raised per channel (every entry's vbucket and seqno, in arrival
   * order: a vbucket's last pair in a channel is its highest).
   */
  clockPairs(): ClockPairs {
    const names: string[] = [];
    const counts: number[] = [];
    const vbs: number[] = [];
    const seqs: number[] = [];
    const docs = this.#docs;
    const chNext = this.#chNext;
    for (const c of this.channels.values()) {
      names.push(c.ch);
      counts.push(c.count);
      for (let i = c.head; i !== -1; i = chNext[i]!) {
        const d = docs[i]!;
        vbs.push(d.vb);
        seqs.push(d.seq);
      }
    }
    return { names, counts, vbs, seqs };
  }
}

/** Chunk puts for batches, and the block tails that later batches extend. */
export class ChunkWriter {
  readonly #blockPrefix: string;
  readonly #chunkBytes: number;
  readonly #tails: Lru<number, Tail>;
  /**
   * Small numbers for channel names, so the tail cache takes numeric keys (hashing a long key
   * string per entry cost more than the rest of a lookup). A name evicted and seen again gets a new
   * number: what was cached under the old one is just never found again.
   */
  readonly #ids = new Lru<string, ChannelId>(200_000);
  #nextId = 0;

  constructor(o: ChunkWriterOptions) {
    this.#blockPrefix = o.blockPrefix;
    this.#chunkBytes = o.chunkBytes;
    this.#tails = new Lru(o.tailCacheSize);
  }

  channelId(ch: string): ChannelId {
    let id = this.#ids.get(ch);
    if (!id)
      this.#ids.set(
        ch,
        (id = { cid: this.#nextId++, prefix: Buffer.from(`${this.#blockPrefix}${ch}\u0000`) }),
      );
    return id;
  }

  batch(blockSize: number, vbucketsPerBlock: number): BatchRuns {
    return new BatchRuns(this, blockSize, vbucketsPerBlock);
  }

  /**
   * Appends one put per run to `ops` (new chunks are named by `counter`, the batch's number);
   * returns the new tails, to be kept with `keep` once the batch is built (the next batch extends
   * them while this one commits).
   */
  write(batch: BatchRuns, counter: number, ops: BatchOp[]): [number, Tail][] {
    const out: [number, Tail][] = [];
    for (const run of batch.runs) {
      // (one tail per channel and partition: a run of another block starts a chunk of its own)
      const tk = run.ch.id.cid * 65536 + run.part;
      const tail = this.#tails.get(tk);
      let t: Tail;
      if (tail && tail.blk === run.blk && tail.bytes.length + run.bytes <= this.#chunkBytes) {
        const bytes = Buffer.allocUnsafe(tail.bytes.length + run.bytes);
        tail.bytes.copy(bytes, 0);
        batch.encode(run, bytes, tail.bytes.length);
        t = { blk: run.blk, key: tail.key, bytes };
      } else {
        const bytes = Buffer.allocUnsafe(run.bytes);
        batch.encode(run, bytes, 0);
        t = { blk: run.blk, key: chunkKey(run.ch.id.prefix, run.part, run.blk, counter), bytes };
      }
      out.push([tk, t]);
      ops.push({ type: 'put', key: t.key, value: t.bytes });
    }
    return out;
  }

  keep(tails: [number, Tail][]): void {
    for (const [tk, t] of tails) this.#tails.set(tk, t);
  }

  /** Forget every tail (a rollback rewrote chunks under them). */
  clear(): void {
    this.#tails.clear();
  }
}

/** P "b/" channel 0x00 part4 blk14 counter12, as keys.ts chunkOf(blockString(...)) spells it. */
export function chunkKey(prefix: Buffer, part: number, blk: number, counter: number): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + 30);
  prefix.copy(out, 0);
  writeHex(out, prefix.length, part, 4);
  writeHex(out, prefix.length + 4, blk, 14);
  writeHex(out, prefix.length + 18, counter, 12);
  return out;
}
