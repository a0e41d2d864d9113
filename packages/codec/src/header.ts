// The 24-byte header of the memcached binary protocol, classic and flexible-framing layouts.
import { HEADER_BYTES } from './constants.js';
import { ErrBadFrame, ErrBadMagic, ErrEncode, ErrFrameTooLarge, ErrTruncatedFrame } from './errors.js';
import { checkRequestExtras } from './internal/extras-rules.js';
import {
  KIND_ALT_REQUEST,
  KIND_ALT_RESPONSE,
  KIND_REQUEST,
  KIND_RESPONSE,
  MAGIC_KIND,
} from './internal/magic.js';

export interface PacketHeader {
  magic: number;
  opcode: number;
  keyLength: number;
  extrasLength: number;
  /** Framing-extras length (alt magics 0x08/0x18 only; 0 otherwise). */
  framingExtrasLength: number;
  datatype: number;
  /** Bytes 6–7 of a request (0x80/0x08/0x82); 0 for responses. */
  vbucket: number;
  /** Bytes 6–7 of a response (0x81/0x18/0x83); 0 for requests. */
  status: number;
  /** framing extras + extras + key + value. */
  bodyLength: number;
  opaque: number;
  cas: bigint;
}

/** True for 0x80, 0x08 and 0x82 (bytes 6–7 = vbucket). */
export function isRequestMagic(magic: number): boolean {
  const k = MAGIC_KIND[magic & 0xff];
  return k === KIND_REQUEST || k === KIND_ALT_REQUEST;
}
/** True for 0x81, 0x18 and 0x83 (bytes 6–7 = status). */
export function isResponseMagic(magic: number): boolean {
  const k = MAGIC_KIND[magic & 0xff];
  return k === KIND_RESPONSE || k === KIND_ALT_RESPONSE;
}
/** True for the flexible-framing magics 0x08 and 0x18. */
export function isAltMagic(magic: number): boolean {
  const k = MAGIC_KIND[magic & 0xff];
  return k === KIND_ALT_REQUEST || k === KIND_ALT_RESPONSE;
}
/** True for any magic this codec understands. */
export function isKnownMagic(magic: number): boolean {
  return MAGIC_KIND[magic & 0xff] !== 0;
}

/**
 * Validates the header at `offset` (which must hold at least 24 bytes) and returns the whole frame
 * length (24 + body). Checks: known magic, frame length ≤ `maxFrameBytes`, body ≥ framing extras +
 * extras + key, and for client requests (0x80/0x08) an extras length that fits the opcode.
 * @internal Shared by decodePacket and FrameDecoder.
 */
export function checkHeaderAt(buf: Buffer, offset: number, maxFrameBytes: number): number {
  const magic = buf[offset];
  const kind = MAGIC_KIND[magic];
  if (kind === 0) throw ErrBadMagic(magic);
  const body =
    ((buf[offset + 8] << 24) >>> 0) + ((buf[offset + 9] << 16) | (buf[offset + 10] << 8) | buf[offset + 11]);
  const frame = body + HEADER_BYTES;
  if (frame > maxFrameBytes) throw ErrFrameTooLarge(frame, maxFrameBytes);
  const ext = buf[offset + 4];
  let fixed: number;
  if (kind <= KIND_RESPONSE) fixed = ext + ((buf[offset + 2] << 8) | buf[offset + 3]);
  else fixed = ext + buf[offset + 2] + buf[offset + 3];
  if (fixed > body) {
    throw ErrBadFrame(`body length ${body} is smaller than framing extras + extras + key (${fixed})`);
  }
  if (kind === KIND_ALT_REQUEST || (kind === KIND_REQUEST && magic === 0x80)) {
    checkRequestExtras(buf[offset + 1], ext);
  }
  return frame;
}

/** Reads and validates the 24-byte header at `offset`. Does not require the body to be present. */
export function decodeHeader(bytes: Uint8Array, offset = 0): PacketHeader {
  const buf = asBuffer(bytes);
  if (!Number.isInteger(offset) || offset < 0) throw ErrBadFrame(`bad header offset ${offset}`);
  if (buf.length - offset < HEADER_BYTES)
    throw ErrTruncatedFrame(Math.max(0, buf.length - offset), HEADER_BYTES);
  checkHeaderAt(buf, offset, Number.MAX_SAFE_INTEGER);
  const magic = buf[offset];
  const kind = MAGIC_KIND[magic];
  const alt = kind === KIND_ALT_REQUEST || kind === KIND_ALT_RESPONSE;
  const req = kind === KIND_REQUEST || kind === KIND_ALT_REQUEST;
  const field = buf.readUInt16BE(offset + 6);
  return {
    magic,
    opcode: buf[offset + 1],
    keyLength: alt ? buf[offset + 3] : buf.readUInt16BE(offset + 2),
    extrasLength: buf[offset + 4],
    framingExtrasLength: alt ? buf[offset + 2] : 0,
    datatype: buf[offset + 5],
    vbucket: req ? field : 0,
    status: req ? 0 : field,
    bodyLength: buf.readUInt32BE(offset + 8),
    opaque: buf.readUInt32BE(offset + 12),
    cas: buf.readBigUInt64BE(offset + 16),
  };
}

/** Header fields for {@link encodeHeader}; lengths are required, the rest default to 0. */
export interface HeaderInput {
  magic: number;
  opcode: number;
  keyLength?: number;
  extrasLength?: number;
  framingExtrasLength?: number;
  datatype?: number;
  vbucket?: number;
  status?: number;
  bodyLength?: number;
  opaque?: number;
  cas?: bigint | number;
}

/** Writes a 24-byte header into `target` at `offset` (a new buffer when omitted) and returns `target`. */
export function encodeHeader(h: HeaderInput, target?: Buffer, offset = 0): Buffer {
  const kind = MAGIC_KIND[h.magic & 0xff];
  if (kind === 0 || h.magic !== (h.magic & 0xff)) throw ErrEncode(`unknown magic ${h.magic}`);
  const alt = kind === KIND_ALT_REQUEST || kind === KIND_ALT_RESPONSE;
  const req = kind === KIND_REQUEST || kind === KIND_ALT_REQUEST;
  const keyLength = h.keyLength ?? 0;
  const flex = h.framingExtrasLength ?? 0;
  const ext = h.extrasLength ?? 0;
  checkUint('opcode', h.opcode, 0xff);
  checkUint('extrasLength', ext, 0xff);
  checkUint('keyLength', keyLength, alt ? 0xff : 0xffff);
  checkUint('framingExtrasLength', flex, alt ? 0xff : 0);
  checkUint('datatype', h.datatype ?? 0, 0xff);
  const field = req ? (h.vbucket ?? 0) : (h.status ?? 0);
  checkUint(req ? 'vbucket' : 'status', field, 0xffff);
  const body = h.bodyLength ?? flex + ext + keyLength;
  checkUint('bodyLength', body, 0xffffffff);
  if (body < flex + ext + keyLength)
    throw ErrEncode('bodyLength is smaller than framing extras + extras + key');
  const opaque = h.opaque ?? 0;
  checkUint('opaque', opaque, 0xffffffff);
  const buf = target ?? Buffer.allocUnsafe(HEADER_BYTES);
  if (buf.length - offset < HEADER_BYTES) throw ErrEncode('target too small for a header');
  buf[offset] = h.magic;
  buf[offset + 1] = h.opcode;
  if (alt) {
    buf[offset + 2] = flex;
    buf[offset + 3] = keyLength;
  } else buf.writeUInt16BE(keyLength, offset + 2);
  buf[offset + 4] = ext;
  buf[offset + 5] = h.datatype ?? 0;
  buf.writeUInt16BE(field, offset + 6);
  buf.writeUInt32BE(body, offset + 8);
  buf.writeUInt32BE(opaque, offset + 12);
  buf.writeBigUInt64BE(toCas(h.cas), offset + 16);
  return buf;
}

/** @internal */
export function checkUint(name: string, v: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw ErrEncode(`${name} ${String(v)} is not an integer in 0..${max}`);
  }
}

/** @internal */
export function toCas(cas: bigint | number | undefined): bigint {
  if (cas === undefined) return 0n;
  const v = typeof cas === 'bigint' ? cas : Number.isSafeInteger(cas) ? BigInt(cas) : -1n;
  if (v < 0n || v > 0xffffffffffffffffn) throw ErrEncode(`cas ${String(cas)} is not a u64`);
  return v;
}

/** @internal Views any Uint8Array as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (!(bytes instanceof Uint8Array)) throw ErrBadFrame('input is not a Uint8Array');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
