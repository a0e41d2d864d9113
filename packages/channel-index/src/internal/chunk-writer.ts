// The write side of channel index blocks: groups one batch's entries into runs (one channel, one
// vbucket, one block) and turns each run into one chunk put, extending the block's last chunk
// while it is small. Entries are encoded straight from each mutation's fields (id bytes and rev
// made once per mutation, shared by all of its channels) into the chunk's buffer: no entry object,
// no intermediate buffer, no key string per chunk. Byte layout: records.ts encodeEntries; key
// layout: keys.ts ("b/" channel 0x00 vb4 blk14 seq14).
import type { BatchOp } from '@tributary/core';
import type { ClockUpdates } from './clock-log.js';
import { Lru } from './lru.js';
import { entrySize, writeEntry } from './records.js';

/** One mutation's entry fields, shared by every channel entry it makes. */
export interface EntryDoc {
  seq: number;
  /** The document id as UTF-8 bytes. */
  id: Buffer;
  /** The rev as latin1 (it is ASCII: generation-hexcas). */
  rev: string;
}

/** One channel's entries of one vbucket and block in a batch: a linked list in BatchRuns' arrays. */
interface Run {
  ch: ChannelRuns;
  vb: number;
  blk: number;
  /** First and last entry (indexes into BatchRuns' entry arrays). */
  head: number;
  tail: number;
  firstSeq: number;
  lastSeq: number;
  bytes: number;
}

interface ChannelRuns {
  ch: string;
  id: ChannelId;
  /** Per vbucket, its latest run in this batch. */
  byVb: Map<number, Run>;
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

/** Entries of one batch, grouped by channel, vbucket and block in arrival (seq) order. */
export class BatchRuns {
  readonly channels = new Map<string, ChannelRuns>();
  readonly runs: Run[] = [];
  // Every entry of the batch in three flat arrays, each run a linked list through `next` (most runs
  // hold one entry: two arrays per run were most of the write path's garbage).
  readonly #docs: EntryDoc[] = [];
  readonly #states: number[] = [];
  readonly #next: number[] = [];
  entries = 0;
  removals = 0;
  tombstones = 0;

  constructor(
    private readonly writer: ChunkWriter,
    private readonly blockSize: number,
  ) {}

  add(ch: string, vb: number, doc: EntryDoc, state: number): void {
    let c = this.channels.get(ch);
    if (!c) this.channels.set(ch, (c = { ch, id: this.writer.channelId(ch), byVb: new Map() }));
    const blk = Math.floor(doc.seq / this.blockSize);
    const i = this.#docs.length;
    this.#docs.push(doc);
    this.#states.push(state);
    this.#next.push(-1);
    let run = c.byVb.get(vb);
    if (!run || run.blk !== blk) {
      run = { ch: c, vb, blk, head: i, tail: i, firstSeq: doc.seq, lastSeq: doc.seq, bytes: 0 };
      c.byVb.set(vb, run);
      this.runs.push(run);
    } else {
      this.#next[run.tail] = i;
      run.tail = i;
      run.lastSeq = doc.seq;
    }
    run.bytes += entrySize(doc.id, doc.rev);
    this.entries++;
    if (state === 1) this.removals++;
    else if (state === 2) this.tombstones++;
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
      o = writeEntry(out, o, d.seq, states[i]!, d.id, d.rev);
    }
  }

  /** Per channel, the highest seqno this batch wrote per vbucket (runs hold ascending seqnos). */
  clockUpdates(): ClockUpdates {
    const out: ClockUpdates = new Map();
    for (const [ch, c] of this.channels) {
      const cu = new Map<number, number>();
      for (const [vb, run] of c.byVb) cu.set(vb, run.lastSeq);
      out.set(ch, cu);
    }
    return out;
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

  batch(blockSize: number): BatchRuns {
    return new BatchRuns(this, blockSize);
  }

  /**
   * Appends one put per run to `ops`; returns the new tails, to be kept with `keep` once the batch
   * is built (the next batch extends them while this one commits).
   */
  write(batch: BatchRuns, ops: BatchOp[]): [number, Tail][] {
    const out: [number, Tail][] = [];
    for (const run of batch.runs) {
      const tk = run.ch.id.cid * 65536 + run.vb;
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
        t = { blk: run.blk, key: chunkKey(run.ch.id.prefix, run.vb, run.blk, run.firstSeq), bytes };
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

/** P "b/" channel 0x00 vb4 blk14 seq14, as keys.ts chunkOf(blockString(...)) spells it. */
export function chunkKey(prefix: Buffer, vb: number, blk: number, firstSeq: number): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + 32);
  prefix.copy(out, 0);
  writeHex(out, prefix.length, vb, 4);
  writeHex(out, prefix.length + 4, blk, 14);
  writeHex(out, prefix.length + 18, firstSeq, 14);
  return out;
}
