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

/** Appends entries (ascending seq) to an encoded block; returns the new block bytes. */
export function encodeEntries(entries: readonly BlockEntry[]): Buffer {
  let size = 0;
  const ids: Buffer[] = [];
  const revs: Buffer[] = [];
  for (const e of entries) {
    const id = Buffer.from(e.id, 'utf8');
    const rev = Buffer.from(e.rev, 'latin1');
    ids.push(id);
    revs.push(rev);
    size += 8 + 1 + 2 + id.length + 1 + rev.length;
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    out.writeUInt32BE(Math.floor(e.seq / TWO32), o);
    out.writeUInt32BE(e.seq % TWO32, o + 4);
    out[o + 8] = e.state;
    out.writeUInt16BE(ids[i]!.length, o + 9);
    o += 11;
    o += ids[i]!.copy(out, o);
    out[o++] = revs[i]!.length;
    o += revs[i]!.copy(out, o);
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
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(8 + 4 + 1 + 1 + 4);
  head.writeUInt32BE(Math.floor(d.seq / TWO32), 0);
  head.writeUInt32BE(d.seq % TWO32, 4);
  head.writeUInt32BE(d.gen >>> 0, 8);
  head[12] = d.deleted ? 1 : 0;
  const rev = Buffer.from(d.rev, 'latin1');
  head[13] = rev.length;
  head.writeUInt32BE(d.channels.size, 14);
  parts.push(head, rev);
  for (const [ch, m] of d.channels) {
    const name = Buffer.from(ch, 'utf8');
    const h = Buffer.allocUnsafe(2 + 8 + 1);
    h.writeUInt16BE(name.length, 0);
    h.writeUInt32BE(Math.floor(m.seq / TWO32), 2);
    h.writeUInt32BE(m.seq % TWO32, 6);
    h[10] = m.state;
    parts.push(h, name);
  }
  if (d.body) parts.push(d.body);
  return Buffer.concat(parts);
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
