// Error codes thrown by @tributary/codec. Decoders throw nothing but these (TributaryError).
import { defineError } from '@tributary/core';

const hex = (n: number): string =>
  typeof n === 'number' && Number.isInteger(n) ? `0x${n.toString(16).padStart(2, '0')}` : String(n);

/** The first byte of a frame is not a magic this codec knows. */
export const ErrBadMagic = defineError(
  'TRIB_BAD_MAGIC',
  (magic: number) => `unknown magic byte ${hex(magic)}`,
);
/** The bytes do not form a valid packet (lengths disagree, a field is out of range, ...). */
export const ErrBadFrame = defineError('TRIB_BAD_FRAME', (why: string) => `malformed frame: ${why}`);
/** A frame's declared length exceeds the decoder's limit. */
export const ErrFrameTooLarge = defineError(
  'TRIB_FRAME_TOO_LARGE',
  (length: number, max: number) => `frame of ${length} bytes exceeds the limit of ${max} bytes`,
);
/** `decodePacket` got fewer (or more) bytes than the header announces. */
export const ErrTruncatedFrame = defineError(
  'TRIB_TRUNCATED_FRAME',
  (have: number, need: number) => `frame needs ${need} bytes, got ${have}`,
);
/** The extras length does not fit the packet's opcode. */
export const ErrBadExtras = defineError(
  'TRIB_BAD_EXTRAS',
  (opcode: number, length: number, expected: string) =>
    `opcode ${hex(opcode)} cannot carry ${length} bytes of extras (expected ${expected})`,
);
/** A typed decoder was given a packet of another opcode or direction. */
export const ErrUnexpectedPacket = defineError(
  'TRIB_UNEXPECTED_PACKET',
  (expected: string, magic: number, opcode: number) =>
    `expected ${expected}, got magic ${hex(magic)} opcode ${hex(opcode)}`,
);
/** A value (snappy block, xattr section, failover log, JSON...) is malformed. */
export const ErrBadValue = defineError('TRIB_BAD_VALUE', (why: string) => `malformed value: ${why}`);
/** An encoder was given fields that cannot be put on the wire. */
export const ErrEncode = defineError('TRIB_CODEC_ENCODE', (why: string) => `cannot encode packet: ${why}`);
