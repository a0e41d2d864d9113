// Transport frame codec: the byte format @tributary/transport speaks. TRANSPORT-PROTOCOL.md
// describes it byte by byte; keep the two in step.
import { ErrBadFrame, ErrBadMagic, ErrFrameTooLarge } from './errors.js';

/** First byte of every transport frame. */
export const TRANSPORT_MAGIC = 0xd7;
/** Version of the frame layout itself (byte 1). The application version travels in the handshake. */
export const TRANSPORT_FRAME_VERSION = 1;
/** Bytes before the payload. */
export const TRANSPORT_HEADER_BYTES = 16;
/** Default largest payload a decoder accepts (1 MiB). */
export const DEFAULT_TRANSPORT_MAX_FRAME_BYTES = 1024 * 1024;
/** Hard ceiling on a payload length whatever the settings say (256 MiB). */
export const TRANSPORT_MAX_FRAME_LIMIT = 256 * 1024 * 1024;

/** Byte 2: what the frame is. */
export const FrameKind = {
  Post: 1,
  Request: 2,
  Response: 3,
  StreamOpen: 4,
  StreamData: 5,
  StreamEnd: 6,
  Heartbeat: 7,
  Handshake: 8,
  Error: 9,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
const MAX_KIND = 9;

/** Byte 3: bit flags. Bits not listed here are reserved and must be zero. */
export const FrameFlag = {
  /** Sent by the side that opened the request/stream this frame belongs to. */
  Initiator: 0x01,
  /** Payload is snappy-compressed (only when both ends negotiated compression 'snappy'). */
  Compressed: 0x02,
  /** Ask the receiver to flush its replies at once (a latency hint; never changes meaning). */
  Urgent: 0x04,
} as const;
const KNOWN_FLAGS = 0x07;

/** Handshake sub-steps, carried in the message-id field of a Handshake frame. */
export const HandshakeStep = {
  Hello: 1,
  AuthStart: 2,
  AuthChallenge: 3,
  AuthResponse: 4,
  AuthDone: 5,
  Ready: 6,
} as const;
export type HandshakeStep = (typeof HandshakeStep)[keyof typeof HandshakeStep];

export interface TransportFrame {
  kind: FrameKind;
  flags: number;
  /** Application message id (0 when the kind has none), or the handshake step. */
  messageId: number;
  /** Request/stream id from the opaque range; 0 for post, heartbeat, connection-level error. */
  opaque: number;
  /** A view into the decoder's input, not a copy. */
  payload: Buffer;
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw ErrBadFrame(`${name} ${v} is not a u32`);
}

function checkHeader(kind: number, flags: number, messageId: number, opaque: number): void {
  if (!Number.isInteger(kind) || kind < 1 || kind > MAX_KIND)
    throw ErrBadFrame(`unknown transport frame kind ${kind}`);
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~KNOWN_FLAGS) !== 0)
    throw ErrBadFrame(`reserved transport frame flags set: 0x${flags.toString(16)}`);
  checkU32('messageId', messageId);
  checkU32('opaque', opaque);
}

/** Total encoded size of a frame carrying `payloadBytes`. */
export function transportFrameSize(payloadBytes: number): number {
  return TRANSPORT_HEADER_BYTES + payloadBytes;
}

/**
 * Writes one frame into `target` at `offset` and returns the offset after it. The fast path for
 * write batching: no allocation. The caller guarantees room (transportFrameSize(payload.length)).
 */
export function writeTransportFrame(
  target: Buffer,
  offset: number,
  kind: FrameKind,
  flags: number,
  messageId: number,
  opaque: number,
  payload: Uint8Array,
): number {
  const len = payload.length;
  // Byte stores, not writeUInt32BE: this runs once per frame on the batching path.
  target[offset] = TRANSPORT_MAGIC;
  target[offset + 1] = TRANSPORT_FRAME_VERSION;
  target[offset + 2] = kind;
  target[offset + 3] = flags;
  target[offset + 4] = messageId >>> 24;
  target[offset + 5] = messageId >>> 16;
  target[offset + 6] = messageId >>> 8;
  target[offset + 7] = messageId;
  target[offset + 8] = opaque >>> 24;
  target[offset + 9] = opaque >>> 16;
  target[offset + 10] = opaque >>> 8;
  target[offset + 11] = opaque;
  target[offset + 12] = len >>> 24;
  target[offset + 13] = len >>> 16;
  target[offset + 14] = len >>> 8;
  target[offset + 15] = len;
  if (len > 0) target.set(payload, offset + TRANSPORT_HEADER_BYTES);
  return offset + TRANSPORT_HEADER_BYTES + len;
}

export interface EncodeTransportFrameOptions {
  maxFrameBytes?: number;
}

/** Encodes one frame into a fresh Buffer (validating every field). */
export function encodeTransportFrame(
  frame: { kind: FrameKind; flags?: number; messageId?: number; opaque?: number; payload?: Uint8Array },
  options: EncodeTransportFrameOptions = {},
): Buffer {
  const flags = frame.flags ?? 0;
  const messageId = frame.messageId ?? 0;
  const opaque = frame.opaque ?? 0;
  const payload = frame.payload ?? EMPTY;
  checkHeader(frame.kind, flags, messageId, opaque);
  const max = options.maxFrameBytes ?? DEFAULT_TRANSPORT_MAX_FRAME_BYTES;
  if (payload.length > max) throw ErrFrameTooLarge(payload.length, max);
  const out = Buffer.allocUnsafe(TRANSPORT_HEADER_BYTES + payload.length);
  writeTransportFrame(out, 0, frame.kind, flags, messageId, opaque, payload);
  return out;
}

const EMPTY = Buffer.alloc(0);

/** Decodes exactly one complete frame (the whole buffer). */
export function decodeTransportFrame(
  bytes: Uint8Array,
  options: EncodeTransportFrameOptions = {},
): TransportFrame {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < TRANSPORT_HEADER_BYTES)
    throw ErrBadFrame(`transport frame shorter than its ${TRANSPORT_HEADER_BYTES}-byte header`);
  const max = options.maxFrameBytes ?? DEFAULT_TRANSPORT_MAX_FRAME_BYTES;
  const frame = readHeader(buf, 0, max);
  const len = buf.readUInt32BE(12);
  if (buf.length !== TRANSPORT_HEADER_BYTES + len)
    throw ErrBadFrame(
      `transport frame length field says ${len} payload bytes, buffer holds ${buf.length - TRANSPORT_HEADER_BYTES}`,
    );
  frame.payload = buf.subarray(TRANSPORT_HEADER_BYTES);
  return frame;
}

function readHeader(buf: Buffer, o: number, max: number): TransportFrame {
  if (buf[o] !== TRANSPORT_MAGIC) throw ErrBadMagic(buf[o] as number);
  const version = buf[o + 1] as number;
  if (version !== TRANSPORT_FRAME_VERSION)
    throw ErrBadFrame(`unsupported transport frame version ${version}`);
  const kind = buf[o + 2] as number;
  const flags = buf[o + 3] as number;
  if (kind < 1 || kind > MAX_KIND) throw ErrBadFrame(`unknown transport frame kind ${kind}`);
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw ErrBadFrame(`reserved transport frame flags set: 0x${flags.toString(16)}`);
  const len = buf.readUInt32BE(o + 12);
  if (len > max) throw ErrFrameTooLarge(len, max);
  return {
    kind: kind as FrameKind,
    flags,
    messageId: buf.readUInt32BE(o + 4),
    opaque: buf.readUInt32BE(o + 8),
    payload: EMPTY,
  };
}

/** Called once per complete frame by TransportFrameDecoder.feed (the allocation-light path). */
export type TransportFrameHandler = (
  kind: FrameKind,
  flags: number,
  messageId: number,
  opaque: number,
  payload: Buffer,
) => void;

export interface TransportFrameDecoderOptions {
  /** Largest payload accepted; bigger frames fail with TRIB_FRAME_TOO_LARGE. Default 1 MiB. */
  maxFrameBytes?: number;
}

/**
 * Streaming decoder: reassembles frames from chunks split anywhere. After it throws (bad magic,
 * bad frame, too large) it stays failed: the stream has lost its framing, so the connection
 * must be closed. Payloads are views into the pushed chunks (copied only when a frame straddles
 * chunks). Reassembly is linear: a straddling frame is held as the list of its chunks and joined
 * once, when its last byte arrives, and its header is checked as soon as it is complete.
 */
export class TransportFrameDecoder {
  readonly maxFrameBytes: number;
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** Total bytes (header + payload) of the held frame once its header is in; 0 before. */
  #need = 0;
  #failed: unknown;

  constructor(options: TransportFrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_TRANSPORT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > TRANSPORT_MAX_FRAME_LIMIT)
      throw ErrBadFrame(`maxFrameBytes must be an integer in 0..${TRANSPORT_MAX_FRAME_LIMIT}`);
    this.maxFrameBytes = max;
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.#heldBytes;
  }

  /** Decodes every complete frame in `chunk` (plus what was buffered) and returns them. */
  push(chunk: Uint8Array): TransportFrame[] {
    const out: TransportFrame[] = [];
    this.feed(chunk, (kind, flags, messageId, opaque, payload) => {
      out.push({ kind, flags, messageId, opaque, payload });
    });
    return out;
  }

  /** Like push, but calls `onFrame` per frame instead of building an array. */
  feed(chunk: Uint8Array, onFrame: TransportFrameHandler): void {
    if (this.#failed !== undefined) throw this.#failed;
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let o = 0;
    let end = buf.length;
    try {
      if (this.#heldBytes > 0) {
        this.#held.push(buf);
        this.#heldBytes += buf.length;
        if (this.#need === 0 && this.#heldBytes >= TRANSPORT_HEADER_BYTES)
          this.#need = this.#frameSize(Buffer.concat(this.#held, this.#heldBytes), 0);
        if (this.#heldBytes < (this.#need || TRANSPORT_HEADER_BYTES)) return; // still short: no copy
        buf = Buffer.concat(this.#held, this.#heldBytes);
        end = buf.length;
        this.#held = [];
        this.#heldBytes = 0;
        this.#need = 0;
      }
      while (end - o >= TRANSPORT_HEADER_BYTES) {
        const total = this.#frameSize(buf, o);
        if (end - o < total) {
          this.#need = total;
          break;
        }
        const kind = buf[o + 2] as FrameKind;
        const flags = buf[o + 3] as number;
        const messageId =
          (buf[o + 4] as number) * 0x1000000 +
          (((buf[o + 5] as number) << 16) | ((buf[o + 6] as number) << 8) | (buf[o + 7] as number));
        const opaque =
          (buf[o + 8] as number) * 0x1000000 +
          (((buf[o + 9] as number) << 16) | ((buf[o + 10] as number) << 8) | (buf[o + 11] as number));
        const start = o + TRANSPORT_HEADER_BYTES;
        o += total;
        onFrame(kind, flags, messageId, opaque, buf.subarray(start, o));
      }
    } catch (err) {
      if (
        (err as { code?: string }).code?.startsWith('TRIB_BAD') ||
        (err as { code?: string }).code === 'TRIB_FRAME_TOO_LARGE'
      ) {
        this.#failed = err;
        this.#held = [];
        this.#heldBytes = 0;
        this.#need = 0;
      } else this.#hold(buf, o, end); // The handler threw: keep the rest so a caller that survives it can go on.
      throw err;
    }
    this.#hold(buf, o, end);
  }

  /** Keeps the bytes after `o` (less than one frame) as a copy: a view would pin the whole chunk. */
  #hold(buf: Buffer, o: number, end: number): void {
    if (o >= end) {
      this.#need = 0;
      return;
    }
    this.#held = [Buffer.from(buf.subarray(o, end))];
    this.#heldBytes = end - o;
    if (end - o < TRANSPORT_HEADER_BYTES) this.#need = 0;
  }

  /** Checks the header at `o` and returns the frame's total size (header + payload). */
  #frameSize(buf: Buffer, o: number): number {
    if (buf[o] !== TRANSPORT_MAGIC) throw ErrBadMagic(buf[o] as number);
    if (buf[o + 1] !== TRANSPORT_FRAME_VERSION)
      throw ErrBadFrame(`unsupported transport frame version ${buf[o + 1]}`);
    const kind = buf[o + 2] as number;
    const flags = buf[o + 3] as number;
    if (kind < 1 || kind > MAX_KIND) throw ErrBadFrame(`unknown transport frame kind ${kind}`);
    if ((flags & ~KNOWN_FLAGS) !== 0)
      throw ErrBadFrame(`reserved transport frame flags set: 0x${flags.toString(16)}`);
    const length =
      (buf[o + 12] as number) * 0x1000000 +
      (((buf[o + 13] as number) << 16) | ((buf[o + 14] as number) << 8) | (buf[o + 15] as number));
    if (length > this.maxFrameBytes) throw ErrFrameTooLarge(length, this.maxFrameBytes);
    return TRANSPORT_HEADER_BYTES + length;
  }
}
