// Small helpers shared by the typed codecs.
import { Magic, SEQNO_FOREVER } from '../constants.js';
import { ErrBadExtras, ErrBadFrame, ErrEncode, ErrUnexpectedPacket } from '../errors.js';
import { encodeStreamIdFrame, streamIdOf } from '../frame-info.js';
import { checkUint } from '../header.js';
import { encodePacket, type Packet, type PacketInput } from '../packet.js';
import { EMPTY, KIND_ALT_REQUEST, KIND_REQUEST, MAGIC_KIND } from './magic.js';

const TWO32 = 4294967296;

/** Reads a u64 seqno as a number: all-ones → SEQNO_FOREVER, above 2^53−1 → TRIB_BAD_FRAME. */
export function readSeqno(buf: Buffer, offset: number, name: string): number {
  const hi = buf.readUInt32BE(offset);
  const lo = buf.readUInt32BE(offset + 4);
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

/** Checks a packet is a client request (0x80/0x08) with `opcode`. */
export function expectRequest(p: Packet, opcode: number, name: string): void {
  const k = MAGIC_KIND[p.magic & 0xff];
  if (p.opcode !== opcode || !(k === KIND_ALT_REQUEST || (k === KIND_REQUEST && p.magic === Magic.Request))) {
    throw ErrUnexpectedPacket(`${name} request`, p.magic, p.opcode);
  }
}

/** Checks a packet is a response (0x81/0x18) with `opcode`. */
export function expectResponse(p: Packet, opcode: number, name: string): void {
  if (p.opcode !== opcode || !(p.magic === Magic.Response || p.magic === Magic.AltResponse)) {
    throw ErrUnexpectedPacket(`${name} response`, p.magic, p.opcode);
  }
}

export function expectExtras(p: Packet, ...lengths: number[]): Buffer {
  const e = p.extras;
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
export function text(buf: Buffer): string {
  return buf.toString('utf8');
}

/** Adds `streamId` to a decoded DCP message when the packet carries one. */
export function withStreamId<T extends object>(out: T, p: Packet): T {
  if (p.magic === Magic.AltRequest) {
    const sid = streamIdOf(p.framingExtras);
    if (sid !== undefined) (out as { streamId?: number }).streamId = sid;
  }
  return out;
}
