// Binary encodings of channel index blocks and document records.

export const EntryState = { Active: 0, Removed: 1, Deleted: 2 } as const;
export type EntryState = (typeof EntryState)[keyof typeof EntryState];

export interface BlockEntry {
  vb: number;
  seq: number;
  state: EntryState;
  id: string;
  rev: string;
}

const TWO32 = 2 ** 32;
/** Bytes before an entry's id: seq u64, vb u16, state u8, id length u16. */
const HEAD = 13;

/**
 * Bytes one entry takes: seq u64, vb u16, state u8, id length u16, id, rev length u8, rev (latin1).
 * A block holds the entries of several vbuckets (keys.ts), so each entry names its vbucket.
 */
export function entrySize(id: Uint8Array, rev: string): number {
  return HEAD + 1 + id.length + rev.length;
}

/** Writes one entry at `o` (entrySize bytes free there); returns the offset after it. */
export function writeEntry(
  out: Buffer,
  o: number,
  vb: number,
  seq: number,
  state: number,
  id: Buffer,
  rev: string,
): number {
  out.writeUInt32BE(Math.floor(seq / TWO32), o);
  out.writeUInt32BE(seq % TWO32, o + 4);
  out.writeUInt16BE(vb, o + 8);
  out[o + 10] = state;
  out.writeUInt16BE(id.length, o + 11);
  id.copy(out, o + HEAD);
  o += HEAD + id.length;
  out[o] = rev.length;
  out.write(rev, o + 1, 'latin1');
  return o + 1 + rev.length;
}

/** Encodes entries as block bytes (a block is its chunks' bytes concatenated). */
export function encodeEntries(entries: readonly BlockEntry[]): Buffer {
  const ids = entries.map((e) => Buffer.from(e.id, 'utf8'));
  let size = 0;
  for (let i = 0; i < entries.length; i++) size += entrySize(ids[i]!, entries[i]!.rev);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    o = writeEntry(out, o, e.vb, e.seq, e.state, ids[i]!, e.rev);
  }
  return out;
}

const asBuffer = (buf: Uint8Array) =>
  Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);

/**
 * Calls `f(vb, seq, o, next)` for each whole entry of a block (o: where it starts, next: where the
 * next one does); a block cut short ends at its last whole entry. Nothing is decoded but the two
 * numbers, so skipping an entry costs no string.
 */
function eachEntry(b: Buffer, f: (vb: number, seq: number, o: number, next: number) => boolean | void): void {
  let o = 0;
  while (o + HEAD <= b.length) {
    const seq = b.readUInt32BE(o) * TWO32 + b.readUInt32BE(o + 4);
    const idLen = b.readUInt16BE(o + 11);
    const revAt = o + HEAD + idLen;
    if (revAt >= b.length) return;
    const next = revAt + 1 + b[revAt]!;
    if (next > b.length) return;
    if (f(b.readUInt16BE(o + 8), seq, o, next) === false) return;
    o = next;
  }
}

function entryAt(b: Buffer, o: number, next: number, vb: number, seq: number): BlockEntry {
  const idEnd = o + HEAD + b.readUInt16BE(o + 11);
  return {
    vb,
    seq,
    state: b[o + 10] as EntryState,
    id: b.toString('utf8', o + HEAD, idEnd),
    rev: b.toString('latin1', idEnd + 1, next),
  };
}

/** Decodes a block's entries, all of them or those `keep(vb, seq)` accepts (decoding only those). */
export function decodeEntries(buf: Uint8Array, keep?: (vb: number, seq: number) => boolean): BlockEntry[] {
  const b = asBuffer(buf);
  const out: BlockEntry[] = [];
  eachEntry(b, (vb, seq, o, next) => {
    if (!keep || keep(vb, seq)) out.push(entryAt(b, o, next, vb, seq));
  });
  return out;
}

/**
 * Drops the entries of `vb` above `keepUpTo` (other vbuckets' entries stay, in order). Returns the
 * kept bytes (the input itself when nothing went) and the highest kept seqno of vb (0 if none).
 */
export function truncateBlock(
  buf: Uint8Array,
  vb: number,
  keepUpTo: number,
): { bytes: Buffer; maxSeq: number; changed: boolean } {
  const b = asBuffer(buf);
  const parts: Buffer[] = [];
  let maxSeq = 0;
  let from = 0;
  let end = 0;
  let changed = false;
  eachEntry(b, (evb, seq, o, next) => {
    end = next;
    if (evb !== vb) return;
    if (seq <= keepUpTo) {
      if (seq > maxSeq) maxSeq = seq;
      return;
    }
    changed = true;
    if (o > from) parts.push(b.subarray(from, o));
    from = next;
  });
  // (a torn tail, which a whole write never leaves, is dropped too)
  if (end < b.length) changed = true;
  if (!changed) return { bytes: b, maxSeq, changed };
  if (end > from) parts.push(b.subarray(from, end));
  return { bytes: Buffer.concat(parts), maxSeq, changed };
}

/** What the index remembers about a document: where it has entries, its rev, its body. */
export interface DocRecord {
  seq: number;
  gen: number;
  rev: string;
  deleted: boolean;
  /** The channels the document is in, each with the seqno of the entry that put it there. */
  channels: Map<string, number>;
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
    const seq = d.channels.get(ch)!;
    const len = out.write(ch, o + 11, 'utf8');
    out.writeUInt16BE(len, o);
    out.writeUInt32BE(Math.floor(seq / TWO32), o + 2);
    out.writeUInt32BE(seq % TWO32, o + 6);
    out[o + 10] = EntryState.Active;
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
  const channels = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const len = b.readUInt16BE(o);
    const s = b.readUInt32BE(o + 2) * TWO32 + b.readUInt32BE(o + 6);
    // (records of earlier versions also listed channels the document had left: not kept)
    const active = b[o + 10] === EntryState.Active;
    o += 11;
    if (active) channels.set(b.toString('utf8', o, o + len), s);
    o += len;
  }
  const body = o < b.length ? Buffer.from(b.subarray(o)) : undefined;
  return { seq, gen, rev, deleted, channels, body };
}
