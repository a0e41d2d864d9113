// Binary encodings of channel index blocks and document records.

export const EntryState = { Active: 0, Removed: 1, Deleted: 2 } as const;
export type EntryState = (typeof EntryState)[keyof typeof EntryState];

export interface BlockEntry {
  seq: number;
  state: EntryState;
  id: string;
  rev: string;
}

const TWO32 = 2 ** 32;

/** Bytes one entry takes: seq u64, state u8, id length u16, id, rev length u8, rev (latin1). */
export function entrySize(id: Uint8Array, rev: string): number {
  return 12 + id.length + rev.length;
}

/** Writes one entry at `o` (entrySize bytes free there); returns the offset after it. */
export function writeEntry(
  out: Buffer,
  o: number,
  seq: number,
  state: number,
  id: Buffer,
  rev: string,
): number {
  out.writeUInt32BE(Math.floor(seq / TWO32), o);
  out.writeUInt32BE(seq % TWO32, o + 4);
  out[o + 8] = state;
  out.writeUInt16BE(id.length, o + 9);
  id.copy(out, o + 11);
  o += 11 + id.length;
  out[o] = rev.length;
  out.write(rev, o + 1, 'latin1');
  return o + 1 + rev.length;
}

/** Encodes entries (ascending seq) as block bytes (a block is its chunks' bytes concatenated). */
export function encodeEntries(entries: readonly BlockEntry[]): Buffer {
  const ids = entries.map((e) => Buffer.from(e.id, 'utf8'));
  let size = 0;
  for (let i = 0; i < entries.length; i++) size += entrySize(ids[i]!, entries[i]!.rev);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    o = writeEntry(out, o, e.seq, e.state, ids[i]!, e.rev);
  }
  return out;
}

/** Decodes a block; `after` skips entries with seq <= after (cheaply, without decoding strings). */
export function decodeEntries(
  buf: Uint8Array,
  after = 0,
  upTo = Number.MAX_SAFE_INTEGER,
  max = Number.POSITIVE_INFINITY,
): BlockEntry[] {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: BlockEntry[] = [];
  let o = 0;
  while (o + 11 <= b.length) {
    const seq = b.readUInt32BE(o) * TWO32 + b.readUInt32BE(o + 4);
    const state = b[o + 8] as EntryState;
    const idLen = b.readUInt16BE(o + 9);
    const idStart = o + 11;
    if (idStart + idLen >= b.length) break;
    const revLen = b[idStart + idLen]!;
    const next = idStart + idLen + 1 + revLen;
    if (next > b.length) break;
    if (seq > after && seq <= upTo) {
      out.push({
        seq,
        state,
        id: b.toString('utf8', idStart, idStart + idLen),
        rev: b.toString('latin1', idStart + idLen + 1, next),
      });
      if (out.length >= max) break;
    }
    o = next;
  }
  return out;
}

/** Drops entries with seq > keepUpTo; returns the kept bytes and the highest kept seq (0 if none). */
export function truncateBlock(buf: Uint8Array, keepUpTo: number): { bytes: Buffer; maxSeq: number } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  let maxSeq = 0;
  while (o + 11 <= b.length) {
    const seq = b.readUInt32BE(o) * TWO32 + b.readUInt32BE(o + 4);
    const idLen = b.readUInt16BE(o + 9);
    if (o + 11 + idLen >= b.length) break;
    const next = o + 11 + idLen + 1 + b[o + 11 + idLen]!;
    if (next > b.length || seq > keepUpTo) break;
    maxSeq = seq;
    o = next;
  }
  return { bytes: Buffer.from(b.subarray(0, o)), maxSeq };
}

export interface ChannelMembership {
  seq: number;
  state: EntryState;
}

/** What the index remembers about a document: where it has entries, its rev, its body. */
export interface DocRecord {
  seq: number;
  gen: number;
  rev: string;
  deleted: boolean;
  channels: Map<string, ChannelMembership>;
  body?: Buffer | undefined;
}

export function encodeDoc(d: DocRecord): Buffer {
  let size = 18 + d.rev.length + (d.body?.length ?? 0);
  for (const ch of d.channels.keys()) size += 11 + Buffer.byteLength(ch, 'utf8');
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(Math.floor(d.seq / TWO32), 0);
  out.writeUInt32BE(d.seq % TWO32, 4);
  out.writeUInt32BE(d.gen >>> 0, 8);
  out[12] = d.deleted ? 1 : 0;
  out[13] = d.rev.length;
  out.writeUInt32BE(d.channels.size, 14);
  let o = 18 + out.write(d.rev, 18, 'latin1');
  // Channels in name order: a record reads the same however its channels were added (a rollback
  // rebuilds records from the blocks, and an index must equal one rebuilt from scratch).
  const names = d.channels.size > 1 ? [...d.channels.keys()].sort() : d.channels.keys();
  for (const ch of names) {
    const m = d.channels.get(ch)!;
    const len = out.write(ch, o + 11, 'utf8');
    out.writeUInt16BE(len, o);
    out.writeUInt32BE(Math.floor(m.seq / TWO32), o + 2);
    out.writeUInt32BE(m.seq % TWO32, o + 6);
    out[o + 10] = m.state;
    o += 11 + len;
  }
  if (d.body) o += d.body.copy(out, o);
  return out.subarray(0, o);
}

export function decodeDoc(buf: Uint8Array): DocRecord {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const seq = b.readUInt32BE(0) * TWO32 + b.readUInt32BE(4);
  const gen = b.readUInt32BE(8);
  const deleted = b[12] === 1;
  const revLen = b[13]!;
  const n = b.readUInt32BE(14);
  let o = 18;
  const rev = b.toString('latin1', o, o + revLen);
  o += revLen;
  const channels = new Map<string, ChannelMembership>();
  for (let i = 0; i < n; i++) {
    const len = b.readUInt16BE(o);
    const s = b.readUInt32BE(o + 2) * TWO32 + b.readUInt32BE(o + 6);
    const state = b[o + 10] as EntryState;
    o += 11;
    channels.set(b.toString('utf8', o, o + len), { seq: s, state });
    o += len;
  }
  const body = o < b.length ? Buffer.from(b.subarray(o)) : undefined;
  return { seq, gen, rev, deleted, channels, body };
}
