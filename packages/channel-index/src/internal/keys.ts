// Store key layout (all under the index prefix P, keys compare bytewise):
//   P "n"                          batch counter: bumped by every committed batch (what pollers read)
//   P "s/" vb4                     stable clock: seqno up to which vbucket vb is fully indexed
//   P "m/" vb4                     datasource checkpoint metadata for vb (when no checkpointOps given)
//   P "v/" channel                 channel version: batch counter of the last batch that touched it
//   P "c/" channel 0x00 vb4        channel clock: highest seqno in the channel for vb
//   P "b/" channel 0x00 vb4 blk14  channel index block: entries of seqnos [blk*B, (blk+1)*B) of vb
//   P "d/" vb4 docId               document record: channel membership, rev, body
const hex4 = (n: number) => n.toString(16).padStart(4, '0');
const hex14 = (n: number) => n.toString(16).padStart(14, '0');

export class Keys {
  readonly counter: Buffer;
  readonly stablePrefix: Buffer;
  readonly docPrefix: string;
  constructor(readonly prefix: string) {
    this.counter = Buffer.from(`${prefix}n`);
    this.stablePrefix = Buffer.from(`${prefix}s/`);
    this.docPrefix = `${prefix}d/`;
  }
  stable(vb: number): Buffer {
    return Buffer.from(`${this.prefix}s/${hex4(vb)}`);
  }
  vbOfStable(key: Uint8Array): number {
    return Number.parseInt(
      Buffer.from(key)
        .toString('latin1')
        .slice(this.prefix.length + 2),
      16,
    );
  }
  meta(vb: number): Buffer {
    return Buffer.from(`${this.prefix}m/${hex4(vb)}`);
  }
  version(ch: string): Buffer {
    return Buffer.from(`${this.prefix}v/${ch}`);
  }
  clockPrefix(ch: string): Buffer {
    return Buffer.from(`${this.prefix}c/${ch}\u0000`);
  }
  clock(ch: string, vb: number): Buffer {
    return Buffer.from(`${this.prefix}c/${ch}\u0000${hex4(vb)}`);
  }
  vbOfClockKey(key: Uint8Array): number {
    const b = Buffer.from(key);
    return Number.parseInt(b.subarray(b.length - 4).toString('latin1'), 16);
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

export function encodeNum(n: number): Buffer {
  return Buffer.from(String(n));
}

export function decodeNum(v: Uint8Array | undefined): number {
  if (!v) return 0;
  const n = Number(Buffer.from(v).toString('latin1'));
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}
