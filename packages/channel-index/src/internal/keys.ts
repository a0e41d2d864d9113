// Store key layout (all under the index prefix P, keys compare bytewise):
//   P "s"                          batch counter (bumped by every committed batch) + stable clock
//                                  (per vbucket, the seqno up to which it is fully indexed): what
//                                  pollers read, one key
//   P "ck/" u16 vb                 datasource checkpoint record of vb (createStoreCheckpoints' layout)
//   P "v/" channel                 channel version (counter of the last batch that touched it) +
//                                  channel clock (per vbucket, the highest seqno in the channel)
//   P "b/" channel 0x00 part4 blk14 counter12
//                                  a chunk of a channel index block: entries of the vbuckets of
//                                  partition `part` (vbucketsPerBlock of them, vb / vbucketsPerBlock)
//                                  with seqnos in [blk*B, (blk+1)*B), written by the batch `counter`
//                                  (and extended by later ones while it is small). A block is the
//                                  run of its chunks in key order; the writer never reads a block
//                                  back. Several vbuckets per block, as Sync Gateway's partitions,
//                                  so a batch makes about one chunk per channel, not one per
//                                  channel and vbucket (with vbucketsPerBlock 1, a block is one
//                                  vbucket's)
//   P "d/" vb4 docId               document record: channel membership, rev, body
//   P "cl/" counter12              clock log record: the channel clock pairs one batch raised
//                                  (internal/clock-log.ts); `v/` is complete up to the checkpoint
//   P "r"                          rollback history (internal/rollback-history.ts)
import { VarintReader, writeVarint } from './varint.js';

const hex4 = (n: number) => n.toString(16).padStart(4, '0');
const hex12 = (n: number) => n.toString(16).padStart(12, '0');
const hex14 = (n: number) => n.toString(16).padStart(14, '0');

export class Keys {
  readonly stable: Buffer;
  readonly docPrefix: string;
  readonly rollbacks: Buffer;
  /** Where chunk keys start: P "b/" (then channel 0x00 ...). */
  readonly blockPrefix: string;
  constructor(readonly prefix: string) {
    this.blockPrefix = `${prefix}b/`;
    this.stable = Buffer.from(`${prefix}s`);
    this.rollbacks = Buffer.from(`${prefix}r`);
    this.docPrefix = `${prefix}d/`;
  }
  clockLog(counter: number): Buffer {
    return Buffer.from(`${this.prefix}cl/${hex12(counter)}`);
  }
  counterOfClockLog(key: Uint8Array): number {
    return Number.parseInt(
      Buffer.from(key)
        .toString('latin1')
        .slice(this.prefix.length + 3),
      16,
    );
  }
  /** P "v/": every channel's version record starts with it. */
  get versionPrefix(): Buffer {
    return Buffer.from(`${this.prefix}v/`);
  }
  version(ch: string): Buffer {
    return Buffer.from(`${this.prefix}v/${ch}`);
  }
  blockString(ch: string, part: number, blk: number): string {
    return `${this.prefix}b/${ch}\u0000${hex4(part)}${hex14(blk)}`;
  }
  /** The key of a chunk of block `blockString` that the batch `counter` started. */
  chunkOf(blockString: string, counter: number): Buffer {
    return Buffer.from(`${blockString}${hex12(counter)}`);
  }
  /** The prefix of a block's chunks (and the lower bound of a scan from that block on). */
  block(ch: string, part: number, blk: number): Buffer {
    return Buffer.from(this.blockString(ch, part, blk));
  }
  /** The prefix of every block of one channel and partition. */
  blockPartPrefix(ch: string, part: number): Buffer {
    return Buffer.from(`${this.prefix}b/${ch}\u0000${hex4(part)}`);
  }
  /** The counter of the batch that started a chunk (its key's last 12 hex digits). */
  counterOfChunk(key: Uint8Array): number {
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    return Number.parseInt(k.toString('latin1', k.length - 12), 16);
  }
  /** The block number in a chunk key (the 14 hex digits before the counter). */
  blockOfChunk(key: Uint8Array): number {
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    return Number.parseInt(k.toString('latin1', k.length - 26, k.length - 12), 16);
  }
  docString(vb: number, id: string): string {
    return `${this.docPrefix}${hex4(vb)}${id}`;
  }
  doc(vb: number, id: string): Buffer {
    return Buffer.from(this.docString(vb, id));
  }
  docVbPrefix(vb: number): Buffer {
    return Buffer.from(`${this.docPrefix}${hex4(vb)}`);
  }
  idOfDocKey(key: Uint8Array): string {
    return Buffer.from(key)
      .toString('utf8')
      .slice(this.docPrefix.length + 4);
  }
}

/**
 * A counter and a vector clock: varint counter, then varint (vbucket, seqno) pairs in no
 * particular order (no sort: channel clocks are rewritten by every batch that touches them).
 */
export function encodeClock(
  counter: number,
  clock: ReadonlyMap<number, number>,
  updates?: ReadonlyMap<number, number>,
  /** More pairs, of vbuckets neither `clock` nor `updates` holds (the state record's fields). */
  extra?: ReadonlyMap<number, number>,
): Buffer {
  const out = Buffer.allocUnsafe(8 + (clock.size + (updates?.size ?? 0) + (extra?.size ?? 0)) * 11);
  let o = writeVarint(out, 0, counter);
  // (forEach, not for-of: a writer's ChannelClock iterates without a pair per vbucket)
  clock.forEach((old, vb) => {
    // `updates` replace what the clock holds (the clock as it will be, without copying it)
    const seq = updates?.get(vb) ?? old;
    if (seq <= 0) return;
    o = writeVarint(out, writeVarint(out, o, vb), seq);
  });
  updates?.forEach((seq, vb) => {
    if (seq <= 0 || clock.has(vb)) return;
    o = writeVarint(out, writeVarint(out, o, vb), seq);
  });
  extra?.forEach((seq, vb) => {
    if (seq > 0) o = writeVarint(out, writeVarint(out, o, vb), seq);
  });
  return out.subarray(0, o);
}

// A record cut short keeps what it read (records are written whole; this only bounds a bad one).
const keepPartial = (partial: number) => partial;

/** Decodes encodeClock's bytes; a missing value is counter 0 and the empty clock. */
export function decodeClock(
  v: Uint8Array | undefined,
  withClock = true,
): { counter: number; clock: Map<number, number> } {
  const clock = new Map<number, number>();
  if (!v || v.length === 0) return { counter: 0, clock };
  const r = new VarintReader(v, keepPartial);
  const read = () => r.varint();
  const counter = read();
  if (withClock) {
    while (!r.done) {
      const vb = read();
      clock.set(vb, read());
    }
  }
  return { counter, clock };
}
