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
  ch: ChannelId;
  part: number;
  blk: number;
  /** blk * 65536 + part */
  bk: number;
  /** First and last entry (indexes into BatchRuns' entry arrays). */
  head: number;
  tail: number;
  bytes: number;
}

/**
 * A channel as the writer knows it across batches (its number and key prefix), and what the
 * current batch put in it: the batch fields are valid while `stamp` is the batch's. Kept on the one
 * object rather than in a Map and an object per channel per batch: a batch touches about one
 * channel per mutation, and building those cost more than the entries themselves.
 */
interface ChannelId {
  ch: string;
  cid: number;
  /** P "b/" channel 0x00: the start of every chunk key of the channel. */
  prefix: Buffer;
  /** The batch the fields below belong to. */
  stamp: number;
  /** The run an entry of the channel went to last (most channels have one run in a batch). */
  last: Run | undefined;
  /**
   * The channel's runs in this batch are the first `nRuns` of `runs` (Run objects kept for the next
   * batch: most channels have one to three a batch); past MANY_RUNS they are found by block here.
   */
  runs: Run[];
  nRuns: number;
  byBlock: Map<number, Run> | undefined;
  /** The channel's entries in arrival order (first and last, linked through #chNext): its clock updates. */
  head: number;
  tail: number;
  count: number;
}

/** clockPairs' result: ClockPairs in the arrays the batch reuses. */
interface BatchPairs extends ClockPairs {
  names: string[];
  counts: Int32Array;
  vbs: Int32Array;
  seqs: Float64Array;
  channels: number;
  pairs: number;
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
  /** Channels whose number and key prefix are kept between batches (default 200,000). */
  channelCacheSize?: number;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Blocks per channel and partition whose last chunk is kept to extend. */
const BLOCK_TAILS = 2;

/** `a`'s contents in a new array of the same type, `cap` long. */
function grown<T extends Uint8Array | Int32Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

function tailOf(list: Tail[] | undefined, blk: number): Tail | undefined {
  if (list === undefined) return undefined;
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.blk === blk) return list[i];
  return undefined;
}
/** Runs of one channel in a batch past which they are found through a Map rather than a scan. */
const MANY_RUNS = 8;

/** Writes `n` as `width` lowercase hex digits at `o` (n < 16^width, n a safe integer). */
function writeHex(out: Buffer, o: number, n: number, width: number): void {
  for (let i = o + width - 1; i >= o; i--) {
    const d = n % 16;
    out[i] = HEX[d]!;
    n = (n - d) / 16;
  }
}

/**
 * Entries of one batch, grouped by channel and block in arrival order (ascending seqno per
 * vbucket). The writer has one, reset for each batch: its arrays keep their capacity, so a batch
 * makes no garbage per entry.
 */
export class BatchRuns {
  /** The channels this batch wrote in, in the order it first did. */
  readonly #touched: ChannelId[] = [];
  readonly runs: Run[] = [];
  // Every entry of the batch in flat arrays, each run a linked list through `next` and each
  // channel one through `chNext`.
  readonly #docs: EntryDoc[] = [];
  #states = new Uint8Array(1024);
  #next = new Int32Array(1024);
  #chNext = new Int32Array(1024);
  #n = 0;
  #stamp = 0;
  #blockSize = 1;
  #vbucketsPerBlock = 1;
  // (clockPairs' arrays, reused the same way)
  #pairs: BatchPairs = {
    names: [],
    channels: 0,
    counts: new Int32Array(64),
    vbs: new Int32Array(1024),
    seqs: new Float64Array(1024),
    pairs: 0,
  };
  entries = 0;
  removals = 0;
  tombstones = 0;

  constructor(private readonly writer: ChunkWriter) {}

  /** Empties the batch (the previous one must be done with: its runs and pairs are reused). */
  reset(blockSize: number, vbucketsPerBlock: number): this {
    this.#blockSize = blockSize;
    this.#vbucketsPerBlock = vbucketsPerBlock;
    this.#stamp++;
    this.#touched.length = 0;
    this.runs.length = 0;
    this.#docs.fill(undefined as unknown as EntryDoc, 0, this.#n);
    this.#n = 0;
    this.entries = 0;
    this.removals = 0;
    this.tombstones = 0;
    return this;
  }

  add(ch: string, doc: EntryDoc, state: number): void {
    const blk = Math.floor(doc.seq / this.#blockSize);
    const part = (doc.vb / this.#vbucketsPerBlock) | 0;
    const bk = blk * 65536 + part;
    const i = this.#n++;
    if (i === this.#next.length) this.#grow();
    this.#docs[i] = doc;
    this.#states[i] = state;
    this.#next[i] = -1;
    this.#chNext[i] = -1;
    const c = this.writer.channelId(ch);
    let run: Run;
    if (c.stamp !== this.#stamp) {
      c.stamp = this.#stamp;
      c.nRuns = 0;
      c.byBlock = undefined;
      run = this.#newRun(c, part, blk, bk, i);
      c.last = run;
      c.head = i;
      c.tail = i;
      c.count = 1;
      this.#touched.push(c);
    } else {
      run = c.last!;
      if (run.bk !== bk) {
        // another block of the channel: runs by block from now on
        run = this.#runOf(c, bk) ?? this.#newRun(c, part, blk, bk, i);
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
    run.bytes += entrySize(doc.tail);
    this.entries++;
    if (state === 1) this.removals++;
    else if (state === 2) this.tombstones++;
  }

  #grow(): void {
    const cap = this.#next.length * 2;
    this.#states = grown(this.#states, cap);
    this.#next = grown(this.#next, cap);
    this.#chNext = grown(this.#chNext, cap);
  }

  /** The channel's run of block `bk` in this batch, if it has one. */
  #runOf(c: ChannelId, bk: number): Run | undefined {
    if (c.byBlock !== undefined) return c.byBlock.get(bk);
    for (let k = 0; k < c.nRuns; k++) if (c.runs[k]!.bk === bk) return c.runs[k];
    return undefined;
  }

  #newRun(c: ChannelId, part: number, blk: number, bk: number, i: number): Run {
    let run = c.runs[c.nRuns];
    if (run === undefined) c.runs.push((run = { ch: c, part, blk, bk, head: i, tail: i, bytes: 0 }));
    else {
      run.part = part;
      run.blk = blk;
      run.bk = bk;
      run.head = i;
      run.tail = i;
      run.bytes = 0;
    }
    c.nRuns++;
    if (c.byBlock !== undefined) c.byBlock.set(bk, run);
    else if (c.nRuns > MANY_RUNS) c.byBlock = new Map(c.runs.slice(0, c.nRuns).map((r) => [r.bk, r]));
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
    const t = this.#touched;
    const out = new Array<string>(t.length);
    for (let j = 0; j < t.length; j++) out[j] = t[j]!.ch;
    return out;
  }

  /**
   * The clock pairs this batch raised per channel (every entry's vbucket and seqno, in arrival
   * order: a vbucket's last pair in a channel is its highest). Valid until the next reset.
   */
  clockPairs(): BatchPairs {
    const p = this.#pairs;
    const t = this.#touched;
    if (p.counts.length < t.length) p.counts = new Int32Array(t.length * 2);
    if (p.vbs.length < this.#n) {
      p.vbs = new Int32Array(this.#n * 2);
      p.seqs = new Float64Array(this.#n * 2);
    }
    const { names, counts, vbs, seqs } = p;
    const docs = this.#docs;
    const chNext = this.#chNext;
    let k = 0;
    names.length = t.length;
    for (let j = 0; j < t.length; j++) {
      const c = t[j]!;
      names[j] = c.ch;
      counts[j] = c.count;
      for (let i = c.head; i !== -1; i = chNext[i]!) {
        const d = docs[i]!;
        vbs[k] = d.vb;
        seqs[k++] = d.seq;
      }
    }
    p.channels = t.length;
    p.pairs = k;
    return p;
  }
}

/** Chunk puts for batches, and the block tails that later batches extend. */
export class ChunkWriter {
  readonly #blockPrefix: string;
  readonly #chunkBytes: number;
  /**
   * Per channel and partition, the last chunks of its last BLOCK_TAILS blocks, newest last. While
   * a batch's vbuckets straddle a block boundary a channel's entries alternate between two blocks;
   * with one tail per channel each switch started a new chunk. A reader's read from a known batch
   * stays right: it reads each block newest chunk first, and only a block's newest chunk is ever
   * extended.
   */
  readonly #tails: Lru<number, Tail[]>;
  /**
   * Small numbers for channel names, so the tail cache takes numeric keys (hashing a long key
   * string per entry cost more than the rest of a lookup). Pruned only between batches (a batch
   * must find one object per channel): past the limit it starts over, and a name seen again gets
   * a new number (what was cached under the old one is just never found again).
   */
  readonly #ids = new Map<string, ChannelId>();
  readonly #maxIds: number;
  #nextId = 0;
  readonly #batch = new BatchRuns(this);
  // what write() made, for keep(): per chunk, its tail key and tail
  readonly #newKeys: number[] = [];
  readonly #newTails: Tail[] = [];

  constructor(o: ChunkWriterOptions) {
    this.#blockPrefix = o.blockPrefix;
    this.#chunkBytes = o.chunkBytes;
    // (the option counts tails: the cache holds up to BLOCK_TAILS per entry)
    this.#tails = new Lru(o.tailCacheSize === 0 ? 0 : Math.max(1, Math.ceil(o.tailCacheSize / BLOCK_TAILS)));
    this.#maxIds = o.channelCacheSize ?? 200_000;
  }

  channelId(ch: string): ChannelId {
    let id = this.#ids.get(ch);
    if (id === undefined) {
      id = {
        ch,
        cid: this.#nextId++,
        prefix: Buffer.from(`${this.#blockPrefix}${ch}\u0000`),
        stamp: -1,
        last: undefined,
        runs: [],
        nRuns: 0,
        byBlock: undefined,
        head: -1,
        tail: -1,
        count: 0,
      };
      this.#ids.set(ch, id);
    }
    return id;
  }

  /** The writer's batch, emptied (one at a time: the previous batch must be written). */
  batch(blockSize: number, vbucketsPerBlock: number): BatchRuns {
    if (this.#ids.size > this.#maxIds) this.#ids.clear();
    return this.#batch.reset(blockSize, vbucketsPerBlock);
  }

  /**
   * Appends one put per run to `ops` (new chunks are named by `counter`, the batch's number) and
   * returns how many; the new tails are kept by `keep`, once the batch is built (the next batch
   * extends them while this one commits).
   */
  write(batch: BatchRuns, counter: number, ops: BatchOp[]): number {
    const keys = this.#newKeys;
    const tails = this.#newTails;
    keys.length = 0;
    tails.length = 0;
    for (const run of batch.runs) {
      // (a channel and partition keeps the last chunks of its last two blocks)
      const tk = run.ch.cid * 65536 + run.part;
      const tail = tailOf(this.#tails.get(tk), run.blk);
      let t: Tail;
      if (tail && tail.bytes.length + run.bytes <= this.#chunkBytes) {
        const bytes = Buffer.allocUnsafe(tail.bytes.length + run.bytes);
        tail.bytes.copy(bytes, 0);
        batch.encode(run, bytes, tail.bytes.length);
        t = { blk: run.blk, key: tail.key, bytes };
      } else {
        const bytes = Buffer.allocUnsafe(run.bytes);
        batch.encode(run, bytes, 0);
        t = { blk: run.blk, key: chunkKey(run.ch.prefix, run.part, run.blk, counter), bytes };
      }
      keys.push(tk);
      tails.push(t);
      ops.push({ type: 'put', key: t.key, value: t.bytes });
    }
    return tails.length;
  }

  /** Keeps the tails the last write() made. */
  keep(): void {
    const keys = this.#newKeys;
    const tails = this.#newTails;
    for (let i = 0; i < keys.length; i++) {
      const t = tails[i]!;
      const list = this.#tails.get(keys[i]!);
      if (list === undefined) {
        this.#tails.set(keys[i]!, [t]);
        continue;
      }
      // (the block's entry goes, the new tail is the newest; past BLOCK_TAILS the oldest block goes)
      const at = list.findIndex((x) => x.blk === t.blk);
      if (at >= 0) list.splice(at, 1);
      else if (list.length >= BLOCK_TAILS) list.shift();
      list.push(t);
    }
    keys.length = 0;
    tails.length = 0;
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
