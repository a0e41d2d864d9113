// Flexible framing extras (magics 0x08/0x18): a sequence of FrameInfo objects.
// Each starts with (id << 4) | len; id 15 ⇒ id = 15 + next byte, len 15 ⇒ len = 15 + next byte.
import { RequestFrameInfoId } from './constants.js';
import { ErrBadFrame, ErrEncode } from './errors.js';
import { EMPTY } from './internal/magic.js';

export interface FrameInfo {
  id: number;
  /** View into the framing extras. */
  data: Buffer;
}

/** Parses framing extras into their FrameInfo entries (views). Throws TRIB_BAD_FRAME when malformed. */
export function parseFrameInfos(framingExtras: Uint8Array): FrameInfo[] {
  const buf = Buffer.isBuffer(framingExtras)
    ? framingExtras
    : Buffer.from(framingExtras.buffer, framingExtras.byteOffset, framingExtras.byteLength);
  const out: FrameInfo[] = [];
  let o = 0;
  while (o < buf.length) {
    const b = buf[o++];
    let id = b >>> 4;
    let len = b & 0x0f;
    if (id === 15) {
      if (o >= buf.length) throw ErrBadFrame('framing extras end inside an escaped frame-info id');
      id += buf[o++];
    }
    if (len === 15) {
      if (o >= buf.length) throw ErrBadFrame('framing extras end inside an escaped frame-info length');
      len += buf[o++];
    }
    if (o + len > buf.length)
      throw ErrBadFrame(`frame info ${id} claims ${len} bytes past the framing extras`);
    out.push({ id, data: len === 0 ? EMPTY : buf.subarray(o, o + len) });
    o += len;
  }
  return out;
}

/** Encodes FrameInfo entries (id and data length each up to 15 + 255). */
export function encodeFrameInfos(infos: readonly { id: number; data?: Uint8Array }[]): Buffer {
  const parts: number[] = [];
  for (const { id, data = EMPTY } of infos) {
    const len = data.length;
    if (!Number.isInteger(id) || id < 0 || id > 15 + 255) throw ErrEncode(`frame info id ${id} out of range`);
    if (len > 15 + 255) throw ErrEncode(`frame info ${id} data of ${len} bytes is too long`);
    parts.push((Math.min(id, 15) << 4) | Math.min(len, 15));
    if (id >= 15) parts.push(id - 15);
    if (len >= 15) parts.push(len - 15);
    for (const byte of data) parts.push(byte);
  }
  if (parts.length > 255) throw ErrEncode('framing extras longer than 255 bytes');
  return Buffer.from(parts);
}

/** The 3-byte framing extras carrying a DCP stream id (`22 hi lo`). */
export function encodeStreamIdFrame(streamId: number): Buffer {
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffff) {
    throw ErrEncode(`stream id ${String(streamId)} is not a u16`);
  }
  return Buffer.from([(RequestFrameInfoId.DcpStreamId << 4) | 2, streamId >>> 8, streamId & 0xff]);
}

/** The DCP stream id carried in request framing extras, or undefined if none. */
export function streamIdOf(framingExtras: Uint8Array): number | undefined {
  if (framingExtras.length === 0) return undefined;
  // Fast path: the common single `22 hi lo` frame.
  if (framingExtras.length === 3 && framingExtras[0] === 0x22)
    return (framingExtras[1] << 8) | framingExtras[2];
  for (const f of parseFrameInfos(framingExtras)) {
    if (f.id === RequestFrameInfoId.DcpStreamId) {
      if (f.data.length !== 2)
        throw ErrBadFrame(`stream-id frame info has ${f.data.length} bytes, expected 2`);
      return f.data.readUInt16BE(0);
    }
  }
  return undefined;
}
