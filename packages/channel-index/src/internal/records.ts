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
 * An entry's bytes after its header: id length u16, id (UTF-8), rev length u8, rev (latin1). The
 * same for every channel entry of one mutation, so it is made once per mutation.
 */
export function entryTail(id: Buffer, rev: string): Buffer {
  const out = Buffer.allocUnsafe(3 + id.length + rev.length);
  out[0] = id.length >>> 8;
  out[1] = id.length & 0xff;
  out.set(id, 2);
  let o = 2 + id.length;
  out[o++] = rev.length;
  // (a rev is ASCII: generation-hexcas)
  for (let i = 0; i < rev.length; i++) out[o++] = rev.charCodeAt(i);
  return out;
}

/**
 * Bytes one entry takes: seq u64, vb u16, state u8, then its tail (entryTail). A block holds the
 * entries of several vbuckets (keys.ts), so each entry names its vbucket.
 */
export function entrySize(tail: Uint8Array): number {
  return HEAD - 2 + tail.length;
}

/** Writes one entry at `o` (entrySize bytes free there); returns the offset after it. */
export function writeEntry(
  out: Buffer,
  o: number,
  vb: number,
  seq: number,
  state: number,
  tail: Buffer,
): number {
  // (bytes written one by one: the Buffer write methods cost more than the entry for small ones)
  const hi = Math.floor(seq / TWO32);
  const lo = seq >>> 0;
  out[o] = hi >>> 24;
  out[o + 1] = (hi >>> 16) & 0xff;
  out[o + 2] = (hi >>> 8) & 0xff;
  out[o + 3] = hi & 0xff;
  out[o + 4] = lo >>> 24;
  out[o + 5] = (lo >>> 16) & 0xff;
  out[o + 6] = (lo >>> 8) & 0xff;
  out[o + 7] = lo & 0xff;
  out[o + 8] = vb >>> 8;
  out[o + 9] = vb & 0xff;
  out[o + 10] = state;
  out.set(tail, o + 11);
  return o + 11 + tail.length;
}

/** Encodes entries as block bytes (a block is its chunks' bytes concatenated). */
export function encodeEntries(entries: readonly BlockEntry[]): Buffer {
  const tails = entries.map((e) => entryTail(Buffer.from(e.id, 'utf8'), e.rev));
  let size = 0;
  for (const t of tails) size += entrySize(t);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    o = writeEntry(out, o, e.vb, e.seq, e.state, tails[i]!);
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

/** Writes `s` at `o` as UTF-8, by hand when it is ASCII (a native write costs more for short ones). */
function writeText(out: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return out.write(s, o, 'utf8');
    out[o + i] = c;
  }
  return s.length;
}

/** Byte length of `s` as UTF-8 (its length when ASCII, without a native call). */
function textLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

export function encodeDoc(d: DocRecord): Buffer {
  let size = 18 + d.rev.length + (d.body?.length ?? 0);
  for (const ch of d.channels.keys()) size += 11 + textLength(ch);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(Math.floor(d.seq / TWO32), 0);
  out.writeUInt32BE(d.seq % TWO32, 4);
  out.writeUInt32BE(d.gen >>> 0, 8);
  out[12] = d.deleted ? 1 : 0;
  out[13] = d.rev.length;
  out.writeUInt32BE(d.channels.size, 14);
  // (a rev is ASCII: generation-hexcas)
  let o = 18 + writeText(out, 18, d.rev);
  // Channels in name order: a record reads the same however its channels were added (a rollback
  // rebuilds records from the blocks, and an index must equal one rebuilt from scratch).
  const names = d.channels.size > 1 ? [...d.channels.keys()].sort() : d.channels.keys();
  for (const ch of names) {
    const seq = d.channels.get(ch)!;
    const len = writeText(out, o + 11, ch);
    out.writeUInt16BE(len, o);
    out.writeUInt32BE(Math.floor(seq / TWO32), o + 2);
    out.writeUInt32BE(seq % TWO32, o + 6);
    out[o + 10] = EntryState.Active;
    o += 11 + len;
  }
  if (d.body) {
    out.set(d.body, o);
    o += d.body.length;
  }
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
