// Generic packets: encodePacket / decodePacket and the lazy view type FrameDecoder also returns.
import { inspect } from 'node:util';
import { HEADER_BYTES } from './constants.js';
import { ErrBadFrame, ErrEncode, ErrTruncatedFrame } from './errors.js';
import { asBuffer, checkHeaderAt, checkUint, toCas } from './header.js';
import { EMPTY, KIND_ALT_REQUEST, KIND_ALT_RESPONSE, KIND_REQUEST, MAGIC_KIND } from './internal/magic.js';

/**
 * One decoded packet. `vbucket` is set for requests (0x80/0x08/0x82), `status` for responses
 * (0x81/0x18/0x83); the other is 0. `key`, `extras`, `value` and `framingExtras` are views into the
 * decoded bytes (no copy): do not mutate the input while you use them.
 */
export interface Packet {
  magic: number;
  opcode: number;
  datatype: number;
  vbucket: number;
  status: number;
  opaque: number;
  cas: bigint;
  key: Buffer;
  extras: Buffer;
  value: Buffer;
  framingExtras: Buffer;
}

/** What {@link encodePacket} accepts: header numbers plus optional body parts. */
export interface PacketInput {
  magic: number;
  opcode: number;
  datatype?: number;
  vbucket?: number;
  status?: number;
  opaque?: number;
  cas?: bigint | number;
  key?: Uint8Array | string;
  extras?: Uint8Array;
  value?: Uint8Array | string;
  framingExtras?: Uint8Array;
}

/**
 * A packet read straight off the wire: header numbers and body parts are computed on access from
 * the underlying frame (pino-style: no work for fields nobody reads). Property reads behave like
 * a plain {@link Packet}, but object spread (`{...p}`) does not copy the accessors: use
 * {@link WirePacket.toObject} for a plain object.
 */
export class WirePacket implements Packet {
  /** @internal */ readonly _b: Buffer;
  /** @internal */ readonly _o: number;

  /** @internal Use decodePacket/FrameDecoder; the header at `offset` must have been validated. */
  constructor(buf: Buffer, offset: number) {
    this._b = buf;
    this._o = offset;
  }

  get magic(): number {
    return this._b[this._o];
  }
  get opcode(): number {
    return this._b[this._o + 1];
  }
  get datatype(): number {
    return this._b[this._o + 5];
  }
  get vbucket(): number {
    const b = this._b;
    const o = this._o;
    const k = MAGIC_KIND[b[o]];
    return k === KIND_REQUEST || k === KIND_ALT_REQUEST ? (b[o + 6] << 8) | b[o + 7] : 0;
  }
  get status(): number {
    const b = this._b;
    const o = this._o;
    const k = MAGIC_KIND[b[o]];
    return k === KIND_REQUEST || k === KIND_ALT_REQUEST ? 0 : (b[o + 6] << 8) | b[o + 7];
  }
  get opaque(): number {
    const b = this._b;
    const o = this._o;
    return ((b[o + 12] << 24) >>> 0) + ((b[o + 13] << 16) | (b[o + 14] << 8) | b[o + 15]);
  }
  get cas(): bigint {
    return this._b.readBigUInt64BE(this._o + 16);
  }
  /** 24 + body length. */
  get frameLength(): number {
    return this.bodyLength + HEADER_BYTES;
  }
  get bodyLength(): number {
    const b = this._b;
    const o = this._o;
    return ((b[o + 8] << 24) >>> 0) + ((b[o + 9] << 16) | (b[o + 10] << 8) | b[o + 11]);
  }
  get framingExtrasLength(): number {
    const k = MAGIC_KIND[this._b[this._o]];
    return k === KIND_ALT_REQUEST || k === KIND_ALT_RESPONSE ? this._b[this._o + 2] : 0;
  }
  get extrasLength(): number {
    return this._b[this._o + 4];
  }
  get keyLength(): number {
    const b = this._b;
    const o = this._o;
    const k = MAGIC_KIND[b[o]];
    return k === KIND_ALT_REQUEST || k === KIND_ALT_RESPONSE ? b[o + 3] : (b[o + 2] << 8) | b[o + 3];
  }
  get framingExtras(): Buffer {
    const n = this.framingExtrasLength;
    if (n === 0) return EMPTY;
    const s = this._o + HEADER_BYTES;
    return this._b.subarray(s, s + n);
  }
  get extras(): Buffer {
    const n = this._b[this._o + 4];
    if (n === 0) return EMPTY;
    const s = this._o + HEADER_BYTES + this.framingExtrasLength;
    return this._b.subarray(s, s + n);
  }
  get key(): Buffer {
    const n = this.keyLength;
    if (n === 0) return EMPTY;
    const s = this._o + HEADER_BYTES + this.framingExtrasLength + this._b[this._o + 4];
    return this._b.subarray(s, s + n);
  }
  get value(): Buffer {
    const s = this._o + HEADER_BYTES + this.framingExtrasLength + this._b[this._o + 4] + this.keyLength;
    const e = this._o + HEADER_BYTES + this.bodyLength;
    return s === e ? EMPTY : this._b.subarray(s, e);
  }
  /**
   * The big-endian u64 at byte `at` of the extras, as a number (exact up to 2^53 - 1), read
   * without making a view: for per-message hot paths (a DCP message's seqno is `readExtrasU64(0)`).
   * Throws RangeError when the extras are shorter than `at + 8`.
   */
  readExtrasU64(at: number): number {
    const b = this._b;
    if (!(at >= 0 && at + 8 <= b[this._o + 4]))
      throw new RangeError(`extras u64 at ${at} is outside ${b[this._o + 4]} bytes of extras`);
    const o = this._o + HEADER_BYTES + this.framingExtrasLength + at;
    const hi = ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
    const lo = ((b[o + 4] << 24) >>> 0) + ((b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]);
    return hi * 4294967296 + lo;
  }
  /** The whole frame (header + body) as a view. */
  get frame(): Buffer {
    return this._b.subarray(this._o, this._o + this.frameLength);
  }
  /** A plain-object snapshot (still views, not copies). */
  toObject(): Packet {
    return {
      magic: this.magic,
      opcode: this.opcode,
      datatype: this.datatype,
      vbucket: this.vbucket,
      status: this.status,
      opaque: this.opaque,
      cas: this.cas,
      key: this.key,
      extras: this.extras,
      value: this.value,
      framingExtras: this.framingExtras,
    };
  }
  toJSON(): Record<string, unknown> {
    const o = this.toObject();
    return {
      ...o,
      cas: o.cas.toString(),
      key: o.key.toString('hex'),
      extras: o.extras.toString('hex'),
      value: o.value.toString('hex'),
      framingExtras: o.framingExtras.toString('hex'),
    };
  }
  [inspect.custom](): Packet {
    return this.toObject();
  }
}

/**
 * Decodes exactly one whole packet. The body parts of the result are views into `bytes`.
 * Throws TRIB_TRUNCATED_FRAME when `bytes` is shorter than the header announces (or than a header),
 * TRIB_BAD_FRAME when longer, TRIB_BAD_MAGIC / TRIB_BAD_EXTRAS / TRIB_BAD_FRAME on bad headers.
 */
export function decodePacket(bytes: Uint8Array): WirePacket {
  const buf = asBuffer(bytes);
  if (buf.length < HEADER_BYTES) throw ErrTruncatedFrame(buf.length, HEADER_BYTES);
  const frame = checkHeaderAt(buf, 0, Number.MAX_SAFE_INTEGER);
  if (buf.length < frame) throw ErrTruncatedFrame(buf.length, frame);
  if (buf.length > frame) {
    throw ErrBadFrame(
      `${buf.length - frame} bytes after the end of the packet (decodePacket takes exactly one)`,
    );
  }
  return new WirePacket(buf, 0);
}

const toBytes = (name: string, v: Uint8Array | string | undefined): Uint8Array => {
  if (v === undefined) return EMPTY;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw ErrEncode(`${name} must be a Uint8Array or string`);
};

/** Encodes a packet into one new Buffer (header + framing extras + extras + key + value). */
export function encodePacket(p: PacketInput): Buffer {
  if (typeof p !== 'object' || p === null) throw ErrEncode('packet must be an object');
  const magic = p.magic;
  const kind = typeof magic === 'number' ? MAGIC_KIND[magic & 0xff] : 0;
  if (kind === 0 || magic !== (magic & 0xff)) throw ErrEncode(`unknown magic ${String(magic)}`);
  const alt = kind === KIND_ALT_REQUEST || kind === KIND_ALT_RESPONSE;
  const req = kind === KIND_REQUEST || kind === KIND_ALT_REQUEST;
  const flex = p.framingExtras === undefined ? EMPTY : toBytes('framingExtras', p.framingExtras);
  const extras = p.extras === undefined ? EMPTY : toBytes('extras', p.extras);
  const key = toBytes('key', p.key);
  const value = toBytes('value', p.value);
  if (!alt && flex.length > 0) {
    throw ErrEncode(`magic 0x${magic.toString(16)} cannot carry framing extras (use 0x08 or 0x18)`);
  }
  checkUint('opcode', p.opcode, 0xff);
  checkUint('extras length', extras.length, 0xff);
  checkUint('key length', key.length, alt ? 0xff : 0xffff);
  checkUint('framing extras length', flex.length, 0xff);
  const datatype = p.datatype ?? 0;
  checkUint('datatype', datatype, 0xff);
  const field = req ? (p.vbucket ?? 0) : (p.status ?? 0);
  checkUint(req ? 'vbucket' : 'status', field, 0xffff);
  const opaque = p.opaque ?? 0;
  checkUint('opaque', opaque, 0xffffffff);
  const body = flex.length + extras.length + key.length + value.length;
  checkUint('body length', body, 0xffffffff);
  const cas = p.cas === undefined || p.cas === 0 || p.cas === 0n ? 0n : toCas(p.cas);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body);
  buf[0] = magic;
  buf[1] = p.opcode;
  if (alt) {
    buf[2] = flex.length;
    buf[3] = key.length;
  } else {
    buf[2] = key.length >>> 8;
    buf[3] = key.length & 0xff;
  }
  buf[4] = extras.length;
  buf[5] = datatype;
  buf[6] = field >>> 8;
  buf[7] = field & 0xff;
  buf.writeUInt32BE(body, 8);
  buf.writeUInt32BE(opaque, 12);
  buf.writeBigUInt64BE(cas, 16);
  let o = HEADER_BYTES;
  if (flex.length > 0) {
    buf.set(flex, o);
    o += flex.length;
  }
  if (extras.length > 0) {
    buf.set(extras, o);
    o += extras.length;
  }
  if (key.length > 0) {
    buf.set(key, o);
    o += key.length;
  }
  if (value.length > 0) buf.set(value, o);
  return buf;
}
