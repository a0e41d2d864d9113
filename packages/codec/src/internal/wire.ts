// Small helpers shared by the typed codecs.
import { Magic, SEQNO_FOREVER } from '../constants.js';
import { ErrBadExtras, ErrBadFrame, ErrEncode, ErrUnexpectedPacket } from '../errors.js';
import { encodeStreamIdFrame, streamIdOf } from '../frame-info.js';
import { checkUint } from '../header.js';
import { encodePacket, type Packet, type PacketInput } from '../packet.js';
import { EMPTY, KIND_ALT_REQUEST, KIND_REQUEST, MAGIC_KIND } from './magic.js';

const TWO32 = 4294967296;

/** Big-endian u32 by byte arithmetic (cheaper than readUInt32BE on the hot path). */
export function u32At(b: Buffer, o: number): number {
  return b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

/** CAS as a bigint; the common all-zero case costs no allocation. */
export function casAt(b: Buffer, o: number): bigint {
  const hi = u32At(b, o);
  const lo = u32At(b, o + 4);
  if (hi === 0) return lo === 0 ? 0n : BigInt(lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads a u64 seqno as a number: all-ones → SEQNO_FOREVER, above 2^53−1 → TRIB_BAD_FRAME. */
export function readSeqno(buf: Buffer, offset: number, name: string): number {
  const hi = u32At(buf, offset);
  const lo = u32At(buf, offset + 4);
  if (hi <= 0x1fffff) return hi * TWO32 + lo;
  if (hi === 0xffffffff && lo === 0xffffffff) return SEQNO_FOREVER;
  throw ErrBadFrame(`${name} 0x${buf.toString('hex', offset, offset + 8)} exceeds 2^53-1`);
}

/** Writes a seqno as a u64; SEQNO_FOREVER (2^53−1) and Infinity become all-ones. */
export function writeSeqno(buf: Buffer, offset: number, v: number, name: string): void {
  if (v === SEQNO_FOREVER || v === Number.POSITIVE_INFINITY) {
    buf.writeUInt32BE(0xffffffff, offset);
    buf.writeUInt32BE(0xffffffff, offset + 4);
    return;
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw ErrEncode(`${name} ${String(v)} is not an integer in 0..2^53-1`);
  }
  buf.writeUInt32BE(Math.floor(v / TWO32), offset);
  buf.writeUInt32BE(v >>> 0, offset + 4);
}

/** Writes a u64 given as bigint (vbucket UUIDs, CAS). */
export function writeU64(buf: Buffer, offset: number, v: bigint, name: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn)
    throw ErrEncode(`${name} ${String(v)} is not a u64 bigint`);
  buf.writeBigUInt64BE(v, offset);
}

export function u32(name: string, v: number): number {
  checkUint(name, v, 0xffffffff);
  return v;
}
export function u16(name: string, v: number): number {
  checkUint(name, v, 0xffff);
  return v;
}
export function u8(name: string, v: number): number {
  checkUint(name, v, 0xff);
  return v;
}

export function bytes(name: string, v: Uint8Array | string | undefined): Uint8Array {
  if (v === undefined) return EMPTY;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw ErrEncode(`${name} must be a Uint8Array or string`);
}

/** A packet's body part as a Buffer (plain Packet objects may carry Uint8Arrays). */
export function bufOf(v: Uint8Array): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw ErrBadFrame('packet body parts must be Uint8Arrays');
}

export function checkPacket(p: Packet): void {
  if (typeof p !== 'object' || p === null) throw ErrBadFrame('not a packet');
}

/** Checks a packet is a client request (0x80/0x08) with `opcode`. */
export function expectRequest(p: Packet, opcode: number, name: string): void {
  checkPacket(p);
  const k = MAGIC_KIND[p.magic & 0xff];
  if (p.opcode !== opcode || !(k === KIND_ALT_REQUEST || (k === KIND_REQUEST && p.magic === Magic.Request))) {
    throw ErrUnexpectedPacket(`${name} request`, p.magic, p.opcode);
  }
}

/** Checks a packet is a response (0x81/0x18) with `opcode`. */
export function expectResponse(p: Packet, opcode: number, name: string): void {
  checkPacket(p);
  if (p.opcode !== opcode || !(p.magic === Magic.Response || p.magic === Magic.AltResponse)) {
    throw ErrUnexpectedPacket(`${name} response`, p.magic, p.opcode);
  }
}

export function expectExtras(p: Packet, ...lengths: number[]): Buffer {
  const e = bufOf(p.extras);
  if (!lengths.includes(e.length)) throw ErrBadExtras(p.opcode, e.length, lengths.join(' or '));
  return e;
}

/** Builds a DCP/KV request, switching to magic 0x08 with a stream-id frame when `streamId` is set. */
export function request(p: Omit<PacketInput, 'magic'>, streamId: number | undefined): Buffer {
  if (streamId === undefined) return encodePacket({ ...p, magic: Magic.Request });
  return encodePacket({ ...p, magic: Magic.AltRequest, framingExtras: encodeStreamIdFrame(streamId) });
}

/** The stream id of a DCP request, or undefined. */
export function streamIdOfPacket(p: Packet): number | undefined {
  return p.magic === Magic.AltRequest ? streamIdOf(p.framingExtras) : undefined;
}

/** Strict UTF-8 decode of a short text field. */
export function text(buf: Uint8Array): string {
  return bufOf(buf).toString('utf8');
}

/** Adds `streamId` to a decoded DCP message when the packet carries one. */
export function withStreamId<T extends object>(out: T, p: Packet): T {
  if (p.magic === Magic.AltRequest) {
    const sid = streamIdOf(p.framingExtras);
    if (sid !== undefined) (out as { streamId?: number }).streamId = sid;
  }
  return out;
}

/**
 * Allocates a whole request frame and writes everything but the extras, which the caller fills at
 * offset `24 + framingExtras.length` (the returned `extrasAt`). One allocation, no intermediate
 * buffers: the typed encoders on the DCP hot path use this.
 */
export function allocRequest(
  opcode: number,
  vbucket: number,
  opaque: number,
  cas: bigint,
  datatype: number,
  extrasLength: number,
  key: Uint8Array,
  value: Uint8Array,
  streamId: number | undefined,
): { buf: Buffer; extrasAt: number } {
  checkUint('vbucket', vbucket, 0xffff);
  checkUint('opaque', opaque, 0xffffffff);
  checkUint('datatype', datatype, 0xff);
  const flex = streamId === undefined ? 0 : 3;
  if (streamId !== undefined) checkUint('streamId', streamId, 0xffff);
  if (flex > 0 ? key.length > 0xff : key.length > 0xffff)
    throw ErrEncode(`key of ${key.length} bytes is too long`);
  const body = flex + extrasLength + key.length + value.length;
  if (body > 0xffffffff) throw ErrEncode('body longer than 4 GiB');
  const buf = Buffer.allocUnsafe(24 + body);
  buf[0] = flex > 0 ? Magic.AltRequest : Magic.Request;
  buf[1] = opcode;
  if (flex > 0) {
    buf[2] = flex;
    buf[3] = key.length;
  } else {
    buf[2] = key.length >>> 8;
    buf[3] = key.length & 0xff;
  }
  buf[4] = extrasLength;
  buf[5] = datatype;
  buf[6] = vbucket >>> 8;
  buf[7] = vbucket & 0xff;
  buf.writeUInt32BE(body, 8);
  buf.writeUInt32BE(opaque, 12);
  if (cas === 0n) buf.fill(0, 16, 24);
  else writeU64(buf, 16, cas, 'cas');
  if (flex > 0) {
    buf[24] = 0x22;
    buf[25] = streamId! >>> 8;
    buf[26] = streamId! & 0xff;
  }
  const k = 24 + flex + extrasLength;
  if (key.length > 0) buf.set(key, k);
  if (value.length > 0) buf.set(value, k + key.length);
  return { buf, extrasAt: 24 + flex };
}
