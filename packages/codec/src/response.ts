// Generic responses (magic 0x81, or 0x18 with framing extras).
import { Magic } from './constants.js';
import { ErrUnexpectedPacket } from './errors.js';
import { isResponseMagic } from './header.js';
import { bufOf, checkPacket, u8, u16 } from './internal/wire.js';
import { encodePacket, type Packet } from './packet.js';

export interface ResponseInput {
  opcode: number;
  status: number;
  opaque: number;
  cas?: bigint;
  key?: Uint8Array | string;
  extras?: Uint8Array;
  value?: Uint8Array | string;
  datatype?: number;
  /** Response framing extras; switches the magic to 0x18 when non-empty. */
  framingExtras?: Uint8Array;
  /** 0x81 (default), 0x18, or 0x83 for a reply to a server-initiated request. */
  magic?: number;
}

/** Encodes a response; status, opaque and opcode are required, everything else defaults to empty/0. */
export function encodeResponse(r: ResponseInput): Buffer {
  const flex = r.framingExtras !== undefined && r.framingExtras.length > 0;
  return encodePacket({
    magic: r.magic ?? (flex ? Magic.AltResponse : Magic.Response),
    opcode: u8('opcode', r.opcode),
    status: u16('status', r.status),
    opaque: r.opaque,
    cas: r.cas,
    key: r.key,
    extras: r.extras,
    value: r.value,
    datatype: r.datatype,
    framingExtras: flex ? r.framingExtras : undefined,
  });
}

export interface Response {
  magic: number;
  opcode: number;
  status: number;
  opaque: number;
  cas: bigint;
  datatype: number;
  key: Buffer;
  extras: Buffer;
  value: Buffer;
}

/** Plain fields of any response packet (throws TRIB_UNEXPECTED_PACKET for requests). */
export function decodeResponse(p: Packet): Response {
  checkPacket(p);
  if (!isResponseMagic(p.magic)) throw ErrUnexpectedPacket('a response', p.magic, p.opcode);
  return {
    magic: p.magic,
    opcode: p.opcode,
    status: p.status,
    opaque: p.opaque,
    cas: p.cas,
    datatype: p.datatype,
    key: bufOf(p.key),
    extras: bufOf(p.extras),
    value: bufOf(p.value),
  };
}
