// Store key layout (all under the index prefix P, keys compare bytewise):
//   P "s"                          batch counter (bumped by every committed batch) + stable clock
//                                  (per vbucket, the seqno up to which it is fully indexed): what
//                                  pollers read, one key
//   P "ck/" u16 vb                 datasource checkpoint record of vb (createStoreCheckpoints' layout)
//   P "v/" channel                 channel version (counter of the last batch that touched it) +
//                                  channel clock (per vbucket, the highest seqno in the channel)
//   P "b/" channel 0x00 vb4 blk14  channel index block: entries of seqnos [blk*B, (blk+1)*B) of vb
//   P "d/" vb4 docId               document record: channel membership, rev, body
const hex4 = (n: number) => n.toString(16).padStart(4, '0');
const hex14 = (n: number) => n.toString(16).padStart(14, '0');

export class Keys {
  readonly stable: Buffer;
  readonly docPrefix: string;
  constructor(readonly prefix: string) {
    this.stable = Buffer.from(`${prefix}s`);
    this.docPrefix = `${prefix}d/`;
  }
  version(ch: string): Buffer {
    return Buffer.from(`${this.prefix}v/${ch}`);
  }
  blockString(ch: string, vb: number, blk: number): string {
    return `${this.prefix}b/${ch}\u0000${hex4(vb)}${hex14(blk)}`;
  }
  block(ch: string, vb: number, blk: number): Buffer {
    return Buffer.from(this.blockString(ch, vb, blk));
  }
  blockVbPrefix(ch: string, vb: number): Buffer {
    return Buffer.from(`${this.prefix}b/${ch}\u0000${hex4(vb)}`);
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
export function encodeClock(counter: number, clock: ReadonlyMap<number, number>): Buffer {
  const out = Buffer.allocUnsafe(8 + clock.size * 11);
  let o = 0;
  const put = (n: number) => {
    while (n >= 0x80) {
      out[o++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    out[o++] = n;
  };
  put(counter);
  for (const [vb, seq] of clock) {
    if (seq <= 0) continue;
    put(vb);
    put(seq);
  }
  return out.subarray(0, o);
}

/** Decodes encodeClock's bytes; a missing value is counter 0 and the empty clock. */
export function decodeClock(
  v: Uint8Array | undefined,
  withClock = true,
): { counter: number; clock: Map<number, number> } {
  const clock = new Map<number, number>();
  if (!v || v.length === 0) return { counter: 0, clock };
  let i = 0;
  const read = (): number => {
    let n = 0;
    let mul = 1;
    while (i < v.length) {
      const b = v[i++]!;
      n += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return n;
      mul *= 0x80;
    }
    return n;
  };
  const counter = read();
  if (withClock) {
    while (i < v.length) {
      const vb = read();
      clock.set(vb, read());
    }
  }
  return { counter, clock };
}
