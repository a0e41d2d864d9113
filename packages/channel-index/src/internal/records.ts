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
export function entryTail(id: string, rev: string): Buffer {
  // (the id written straight in: no Buffer of it first)
  const idLength = textLength(id);
  const out = Buffer.allocUnsafe(3 + idLength + rev.length);
  out[0] = idLength >>> 8;
  out[1] = idLength & 0xff;
  let o = 2 + writeText(out, 2, id);
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

// (bytes written one by one: the Buffer write methods cost more than these short fields)
function writeU32(out: Buffer, o: number, n: number): void {
  out[o] = n >>> 24;
  out[o + 1] = (n >>> 16) & 0xff;
  out[o + 2] = (n >>> 8) & 0xff;
  out[o + 3] = n & 0xff;
}

function writeU64(out: Buffer, o: number, n: number): void {
  writeU32(out, o, Math.floor(n / TWO32));
  writeU32(out, o + 4, n >>> 0);
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
  writeU64(out, o, seq);
  out[o + 8] = vb >>> 8;
  out[o + 9] = vb & 0xff;
  out[o + 10] = state;
  out.set(tail, o + 11);
  return o + 11 + tail.length;
}

/** Encodes entries as block bytes (a block is its chunks' bytes concatenated). */
export function encodeEntries(entries: readonly BlockEntry[]): Buffer {
  const tails = entries.map((e) => entryTail(e.id, e.rev));
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
  /**
   * The channels the document is in, in name order (a record reads the same however its channels
   * were added: a rollback rebuilds records from the blocks, and an index must equal one rebuilt
   * from scratch). Two short arrays rather than a Map: the write path reads and rewrites a record
   * per mutation, and a small Map costs more to build, walk and collect than the arrays.
   */
  channels: string[];
  /** Per channel (same index), the seqno of the entry that put the document there. */
  joined: number[];
  body?: Buffer | undefined;
}

/** Sets `rec`'s channels to `names` in name order, each joined at `seq` (arrays reused). */
export function setRecordChannels(rec: DocRecord, names: Iterable<string>, seq: number): void {
  const chs = rec.channels;
  const joined = rec.joined;
  let n = 0;
  for (const ch of names) {
    // (insertion sort: a document is in a handful of channels)
    let i = n++;
    while (i > 0 && chs[i - 1]! > ch) {
      chs[i] = chs[i - 1]!;
      i--;
    }
    chs[i] = ch;
  }
  // (setting an array's length is a runtime call: only when it shrinks)
  if (chs.length > n) chs.length = n;
  for (let i = 0; i < n; i++) joined[i] = seq;
  if (joined.length > n) joined.length = n;
}

/** A record's channels from (channel, joined) pairs in any order. */
export function recordChannels(pairs: Iterable<[string, number]>): { channels: string[]; joined: number[] } {
  const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { channels: sorted.map((p) => p[0]), joined: sorted.map((p) => p[1]) };
}

/** Writes `s` at `o` as UTF-8, by hand when it is ASCII (a native write costs more for short ones). */
export function writeText(out: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return out.write(s, o, 'utf8');
    out[o + i] = c;
  }
  return s.length;
}

/** Byte length of `s` as UTF-8 (its length when ASCII, without a native call). */
export function textLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

export function encodeDoc(d: DocRecord): Buffer {
  const chs = d.channels;
  let size = 18 + d.rev.length + (d.body?.length ?? 0);
  for (let i = 0; i < chs.length; i++) size += 11 + textLength(chs[i]!);
  const out = Buffer.allocUnsafe(size);
  writeU64(out, 0, d.seq);
  writeU32(out, 8, d.gen >>> 0);
  out[12] = d.deleted ? 1 : 0;
  out[13] = d.rev.length;
  writeU32(out, 14, chs.length);
  // (a rev is ASCII: generation-hexcas)
  let o = 18 + writeText(out, 18, d.rev);
  for (let i = 0; i < chs.length; i++) {
    const len = writeText(out, o + 11, chs[i]!);
    out[o] = len >>> 8;
    out[o + 1] = len & 0xff;
    writeU64(out, o + 2, d.joined[i]!);
    out[o + 10] = EntryState.Active;
    o += 11 + len;
  }
  if (d.body) {
    out.set(d.body, o);
    o += d.body.length;
  }
  return o === size ? out : out.subarray(0, o);
}

/** Decodes a record (its body too unless `withBody` is false: the write path never reads it). */
export function decodeDoc(buf: Uint8Array, withBody = true): DocRecord {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const seq = b.readUInt32BE(0) * TWO32 + b.readUInt32BE(4);
  const gen = b.readUInt32BE(8);
  const deleted = b[12] === 1;
  const revLen = b[13]!;
  const n = b.readUInt32BE(14);
  let o = 18;
  const rev = b.toString('latin1', o, o + revLen);
  o += revLen;
  const channels: string[] = [];
  const joined: number[] = [];
  for (let i = 0; i < n; i++) {
    const len = b.readUInt16BE(o);
    const s = b.readUInt32BE(o + 2) * TWO32 + b.readUInt32BE(o + 6);
    // (records of earlier versions also listed channels the document had left: not kept)
    const active = b[o + 10] === EntryState.Active;
    o += 11;
    if (active) {
      channels.push(b.toString('utf8', o, o + len));
      joined.push(s);
    }
    o += len;
  }
  const body = withBody && o < b.length ? Buffer.from(b.subarray(o)) : undefined;
  return { seq, gen, rev, deleted, channels, joined, body };
}
