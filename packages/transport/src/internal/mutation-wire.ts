// Wire messages of the mutation stream, carried as transport posts. See the README for the layout.
import { ErrBadFrame } from '@tributary/codec';
import type { MessageType } from '../message-type.js';
import type { Mutation } from '../mutation.js';

export const MSTREAM_VERSION = 'tributary-mstream/1';

export const MsgId = { Mutation: 1, Control: 2, Ack: 3, Nack: 4, Bye: 5 } as const;
export const ControlOp = { Begin: 1, End: 2, Snapshot: 3 } as const;
const KIND_CODE = { mutation: 1, deletion: 2, expiration: 3 } as const;
const KIND_NAME = [undefined, 'mutation', 'deletion', 'expiration'] as const;
const U32 = 0x100000000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function writeU64(b: Buffer, o: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / U32), o);
  b.writeUInt32BE(n >>> 0, o + 4);
}
export function readU64(b: Buffer, o: number): number {
  const v = b.readUInt32BE(o) * U32 + b.readUInt32BE(o + 4);
  if (v > MAX_SAFE) throw ErrBadFrame(`u64 ${v} above 2^53-1`);
  return v;
}

export const MUTATION_HEADER = 56;

export interface WireMutation {
  msn: number;
  prevSeqno: number;
  m: Mutation;
}

/** Encodes a mutation message (payload of a MsgId.Mutation post). */
export function encodeMutation(msn: number, prevSeqno: number, m: Mutation): Buffer {
  const key = m.key;
  const value = m.value;
  const b = Buffer.allocUnsafe(MUTATION_HEADER + key.length + value.length);
  writeU64(b, 0, msn);
  b.writeUInt16BE(m.vbucket, 8);
  b[10] = KIND_CODE[m.kind];
  b[11] = 0;
  b.writeBigUInt64BE(m.vbuuid, 12);
  writeU64(b, 20, m.seqno);
  writeU64(b, 28, prevSeqno);
  b.writeBigUInt64BE(m.cas, 36);
  b.writeUInt32BE(m.flags >>> 0, 44);
  b.writeUInt32BE(m.expiry >>> 0, 48);
  b.writeUInt32BE(key.length, 52);
  key.copy(b, MUTATION_HEADER);
  value.copy(b, MUTATION_HEADER + key.length);
  return b;
}

export function decodeMutation(p: Buffer): WireMutation {
  if (p.length < MUTATION_HEADER) throw ErrBadFrame(`mutation message of ${p.length} bytes`);
  const kind = KIND_NAME[p[10] as number];
  if (kind === undefined) throw ErrBadFrame(`mutation kind ${p[10]}`);
  const keyLen = p.readUInt32BE(52);
  if (MUTATION_HEADER + keyLen > p.length) throw ErrBadFrame('mutation key longer than the message');
  return {
    msn: readU64(p, 0),
    prevSeqno: readU64(p, 28),
    m: {
      vbucket: p.readUInt16BE(8),
      kind,
      vbuuid: p.readBigUInt64BE(12),
      seqno: readU64(p, 20),
      cas: p.readBigUInt64BE(36),
      flags: p.readUInt32BE(44),
      expiry: p.readUInt32BE(48),
      key: p.subarray(MUTATION_HEADER, MUTATION_HEADER + keyLen),
      value: p.subarray(MUTATION_HEADER + keyLen),
    },
  };
}

/** What readMutation returns besides the mutation (reused: no object per message). */
export interface MutationScratch {
  msn: number;
  prevSeqno: number;
}

/** A vbuuid already held as a bigint, with its two 32-bit words: reused when a message's match. */
export interface KnownVbuuid {
  vbuuid: bigint;
  vbHi: number;
  vbLo: number;
}

let lastBuffer: ArrayBufferLike | undefined;
let lastView: DataView | undefined;

/** One DataView per read chunk (payloads of a chunk share its ArrayBuffer). */
function viewOf(p: Buffer): DataView {
  if (p.buffer !== lastBuffer || lastView === undefined) {
    lastBuffer = p.buffer;
    lastView = new DataView(p.buffer);
  }
  return lastView;
}

function getU64(v: DataView, o: number): number {
  const hi = v.getUint32(o);
  if (hi > 0x1fffff) throw ErrBadFrame(`u64 above 2^53-1 at ${o}`);
  return hi * U32 + v.getUint32(o + 4);
}

/**
 * The fast decoder: like decodeMutation, without the wrapper object and with the vbuuid bigint
 * reused from `known` when its words match (every mutation of a vbucket carries the same one).
 * Key and value are views into `p`.
 */
export function readMutation(p: Buffer, out: MutationScratch, known: KnownVbuuid | undefined): Mutation {
  const len = p.length;
  if (len < MUTATION_HEADER) throw ErrBadFrame(`mutation message of ${len} bytes`);
  const v = viewOf(p);
  const o = p.byteOffset;
  const kind = KIND_NAME[p[10] as number];
  if (kind === undefined) throw ErrBadFrame(`mutation kind ${p[10]}`);
  const keyLen = v.getUint32(o + 52);
  if (MUTATION_HEADER + keyLen > len) throw ErrBadFrame('mutation key longer than the message');
  out.msn = getU64(v, o);
  out.prevSeqno = getU64(v, o + 28);
  const hi = v.getUint32(o + 12);
  const lo = v.getUint32(o + 16);
  const vbuuid =
    known !== undefined && known.vbHi === hi && known.vbLo === lo ? known.vbuuid : v.getBigUint64(o + 12);
  return {
    vbucket: v.getUint16(o + 8),
    seqno: getU64(v, o + 20),
    vbuuid,
    key: p.subarray(MUTATION_HEADER, MUTATION_HEADER + keyLen),
    value: p.subarray(MUTATION_HEADER + keyLen),
    kind,
    cas: v.getBigUint64(o + 36),
    flags: v.getUint32(o + 44),
    expiry: v.getUint32(o + 48),
  };
}

/** The two 32-bit words of a vbuuid, for KnownVbuuid. */
export function vbuuidWords(vbuuid: bigint): { vbHi: number; vbLo: number } {
  return { vbHi: Number((vbuuid >> 32n) & 0xffffffffn), vbLo: Number(vbuuid & 0xffffffffn) };
}

export interface WireControl {
  msn: number;
  vbucket: number;
  op: number;
  vbuuid: bigint;
  a: number;
  b: number;
  flags: number;
}

export function encodeControl(c: WireControl): Buffer {
  const b = Buffer.allocUnsafe(40);
  writeU64(b, 0, c.msn);
  b.writeUInt16BE(c.vbucket, 8);
  b[10] = c.op;
  b[11] = 0;
  b.writeBigUInt64BE(c.vbuuid, 12);
  writeU64(b, 20, c.a);
  writeU64(b, 28, c.b);
  b.writeUInt32BE(c.flags >>> 0, 36);
  return b;
}

export function decodeControl(p: Buffer): WireControl {
  if (p.length !== 40) throw ErrBadFrame(`control message of ${p.length} bytes`);
  const op = p[10] as number;
  if (op < 1 || op > 3) throw ErrBadFrame(`control op ${op}`);
  return {
    msn: readU64(p, 0),
    vbucket: p.readUInt16BE(8),
    op,
    vbuuid: p.readBigUInt64BE(12),
    a: readU64(p, 20),
    b: readU64(p, 28),
    flags: p.readUInt32BE(36),
  };
}

export interface WireNack {
  msn: number;
  vbucket: number;
  code: string;
  message: string;
}

const raw = (id: number, name: string): MessageType<Buffer> => ({
  id,
  name,
  encode: (m) => m,
  decode: (p) => p,
});
export const mutationType = raw(MsgId.Mutation, 'mstream.mutation');
export const controlType = raw(MsgId.Control, 'mstream.control');
export const byeType = raw(MsgId.Bye, 'mstream.bye');
export const ackType: MessageType<number> = {
  id: MsgId.Ack,
  name: 'mstream.ack',
  encode: (msn) => {
    const b = Buffer.allocUnsafe(8);
    writeU64(b, 0, msn);
    return b;
  },
  decode: (p) => {
    if (p.length !== 8) throw ErrBadFrame(`ack of ${p.length} bytes`);
    return readU64(p, 0);
  },
};
export const nackType: MessageType<WireNack> = {
  id: MsgId.Nack,
  name: 'mstream.nack',
  encode: (n) => {
    const text = Buffer.from(JSON.stringify({ code: n.code, message: n.message }));
    const b = Buffer.allocUnsafe(10 + text.length);
    writeU64(b, 0, n.msn);
    b.writeUInt16BE(n.vbucket, 8);
    text.copy(b, 10);
    return b;
  },
  decode: (p) => {
    if (p.length < 10) throw ErrBadFrame(`nack of ${p.length} bytes`);
    let code = 'TRIB_MSTREAM_NACK';
    let message = '';
    try {
      const v = JSON.parse(p.toString('utf8', 10)) as { code?: string; message?: string };
      code = String(v.code ?? code);
      message = String(v.message ?? '');
    } catch {
      throw ErrBadFrame('nack text is not JSON');
    }
    return { msn: readU64(p, 0), vbucket: p.readUInt16BE(8), code, message };
  },
};

// ---------------------------------------------------------------------------------------------
// Straight into the client's ring: a whole transport post frame (header + message), written
// through a DataView (setUint32 pairs for the number fields, setBigUint64 for vbuuid and cas),
// the key and value copied once. Measured against encodeMutation + the batch copy: ~8x fewer ns.

const HEADER = 16;
export const CONTROL_BYTES = 40;

function frameHeader(b: Buffer, o: number, messageId: number, len: number): void {
  b[o] = 0xd7; // TRANSPORT_MAGIC
  b[o + 1] = 1; // frame layout version
  b[o + 2] = 1; // FrameKind.Post
  b[o + 3] = 0;
  b[o + 4] = 0;
  b[o + 5] = 0;
  b[o + 6] = 0;
  b[o + 7] = messageId;
  b[o + 8] = 0;
  b[o + 9] = 0;
  b[o + 10] = 0;
  b[o + 11] = 0;
  b[o + 12] = len >>> 24;
  b[o + 13] = len >>> 16;
  b[o + 14] = len >>> 8;
  b[o + 15] = len;
}

/** Bytes a mutation takes in the ring (frame header included). */
export function mutationFrameSize(m: Mutation): number {
  return HEADER + MUTATION_HEADER + m.key.length + m.value.length;
}

function setU64(v: DataView, o: number, n: number): void {
  v.setUint32(o, Math.floor(n / U32));
  v.setUint32(o + 4, n >>> 0);
}

/** Writes a mutation post frame at `o` (room checked by the caller); returns its size. */
export function writeMutationFrame(
  b: Buffer,
  v: DataView,
  o: number,
  msn: number,
  prevSeqno: number,
  m: Mutation,
): number {
  const key = m.key;
  const value = m.value;
  const len = MUTATION_HEADER + key.length + value.length;
  frameHeader(b, o, MsgId.Mutation, len);
  const p = o + HEADER;
  setU64(v, p, msn);
  v.setUint16(p + 8, m.vbucket);
  b[p + 10] = KIND_CODE[m.kind];
  b[p + 11] = 0;
  v.setBigUint64(p + 12, m.vbuuid);
  setU64(v, p + 20, m.seqno);
  setU64(v, p + 28, prevSeqno);
  v.setBigUint64(p + 36, m.cas);
  v.setUint32(p + 44, m.flags >>> 0);
  v.setUint32(p + 48, m.expiry >>> 0);
  v.setUint32(p + 52, key.length);
  b.set(key, p + MUTATION_HEADER);
  b.set(value, p + MUTATION_HEADER + key.length);
  return HEADER + len;
}

/** Writes a control post frame at `o`; returns its size (HEADER + CONTROL_BYTES). */
export function writeControlFrame(b: Buffer, v: DataView, o: number, c: WireControl): number {
  frameHeader(b, o, MsgId.Control, CONTROL_BYTES);
  const p = o + HEADER;
  setU64(v, p, c.msn);
  v.setUint16(p + 8, c.vbucket);
  b[p + 10] = c.op;
  b[p + 11] = 0;
  v.setBigUint64(p + 12, c.vbuuid);
  setU64(v, p + 20, c.a);
  setU64(v, p + 28, c.b);
  v.setUint32(p + 36, c.flags >>> 0);
  return HEADER + CONTROL_BYTES;
}

export const CONTROL_FRAME_BYTES = HEADER + CONTROL_BYTES;
