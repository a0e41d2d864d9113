// Server-side memcached binary protocol pieces used on the hot path of the data nodes: a
// request reader that parses frames straight out of socket chunks (views, no copies) and a
// batch writer that encodes many responses / DCP messages into one Buffer per flush.
// Values follow kv_engine include/mcbp/protocol/*.h (see shared/reference/dcp-protocol.md).
// The public codec (@tributary/codec) is what clients use; the server keeps its own tight
// encoder here because it writes ~1M messages/s into shared buffers.

export const MAGIC_REQ = 0x80;
export const MAGIC_RES = 0x81;
export const MAGIC_ALT_REQ = 0x08;
export const MAGIC_ALT_RES = 0x18;
export const MAGIC_SERVER_REQ = 0x82;
export const MAGIC_SERVER_RES = 0x83;

export const Op = {
  Get: 0x00,
  Set: 0x01,
  Add: 0x02,
  Replace: 0x03,
  Delete: 0x04,
  Quit: 0x07,
  GetQ: 0x09,
  Noop: 0x0a,
  Version: 0x0b,
  GetK: 0x0c,
  GetKQ: 0x0d,
  Touch: 0x1c,
  Gat: 0x1d,
  Hello: 0x1f,
  SaslListMechs: 0x20,
  SaslAuth: 0x21,
  SaslStep: 0x22,
  GetAllVbSeqnos: 0x48,
  DcpOpen: 0x50,
  DcpAddStream: 0x51,
  DcpCloseStream: 0x52,
  DcpStreamReq: 0x53,
  DcpGetFailoverLog: 0x54,
  DcpStreamEnd: 0x55,
  DcpSnapshotMarker: 0x56,
  DcpMutation: 0x57,
  DcpDeletion: 0x58,
  DcpExpiration: 0x59,
  DcpSetVbucketState: 0x5b,
  DcpNoop: 0x5c,
  DcpBufferAck: 0x5d,
  DcpControl: 0x5e,
  DcpSystemEvent: 0x5f,
  DcpSeqnoAdvanced: 0x64,
  DcpOsoSnapshot: 0x65,
  SelectBucket: 0x89,
  ObserveSeqno: 0x91,
  GetClusterConfig: 0xb5,
  GetCollectionsManifest: 0xba,
  GetCollectionId: 0xbb,
  GetErrorMap: 0xfe,
} as const;

export const St = {
  Success: 0x00,
  KeyEnoent: 0x01,
  KeyEexists: 0x02,
  E2big: 0x03,
  Einval: 0x04,
  NotStored: 0x05,
  NotMyVbucket: 0x07,
  NoBucket: 0x08,
  AuthStale: 0x1f,
  AuthError: 0x20,
  AuthContinue: 0x21,
  Erange: 0x22,
  Rollback: 0x23,
  Eaccess: 0x24,
  UnknownCommand: 0x81,
  Enomem: 0x82,
  NotSupported: 0x83,
  Einternal: 0x84,
  Ebusy: 0x85,
  Etmpfail: 0x86,
  UnknownCollection: 0x88,
  DcpStreamIdInvalid: 0x8d,
} as const;

export const Feature = {
  TcpNoDelay: 0x03,
  MutationSeqno: 0x04,
  Xattr: 0x06,
  Xerror: 0x07,
  SelectBucket: 0x08,
  Snappy: 0x0a,
  Json: 0x0b,
  Duplex: 0x0c,
  ClustermapChangeNotification: 0x0d,
  UnorderedExecution: 0x0e,
  Tracing: 0x0f,
  AltRequestSupport: 0x10,
  SyncReplication: 0x11,
  Collections: 0x12,
} as const;

export const DT_JSON = 0x01;
export const DT_SNAPPY = 0x02;
export const DT_XATTR = 0x04;

export const OpenFlag = {
  Producer: 0x001,
  Notifier: 0x002,
  IncludeXattrs: 0x004,
  NoValue: 0x008,
  IncludeDeleteTimes: 0x020,
  NoValueWithUnderlyingDatatype: 0x040,
  Pitr: 0x080,
  IncludeDeletedUserXattrs: 0x100,
} as const;

export const StreamFlag = {
  Takeover: 0x01,
  DiskOnly: 0x02,
  ToLatest: 0x04,
  NoValue: 0x08,
  ActiveVbOnly: 0x10,
  StrictVbUuid: 0x20,
  FromLatest: 0x40,
  IgnorePurgedTombstones: 0x80,
} as const;

export const EndReason = {
  Ok: 0,
  Closed: 1,
  StateChanged: 2,
  Disconnected: 3,
  TooSlow: 4,
  BackfillFailed: 5,
  Rollback: 6,
  FilterEmpty: 7,
  LostPrivileges: 8,
} as const;

export const SnapFlag = {
  Memory: 0x01,
  Disk: 0x02,
  Checkpoint: 0x04,
  Ack: 0x08,
  History: 0x10,
  MayContainDuplicates: 0x20,
} as const;

/** One parsed request: views into the socket chunk, valid until the next chunk is processed. */
export interface Frame {
  magic: number;
  opcode: number;
  datatype: number;
  /** vbucket for requests, status for responses. */
  vbOrStatus: number;
  opaque: number;
  cas: bigint;
  framingExtras: Buffer;
  extras: Buffer;
  key: Buffer;
  value: Buffer;
  /** Total bytes of the frame (24 + body). */
  size: number;
}

/** What kind of garbage a frame was: the key its log line is counted under. */
export type MalformedKind =
  | 'bad-magic'
  | 'too-large'
  | 'too-large-before-auth'
  | 'lengths'
  | 'frame-info'
  | 'alt-framing';

export class MalformedFrameError extends Error {
  constructor(
    message: string,
    readonly kind: MalformedKind = 'lengths',
  ) {
    super(message);
  }
}

const EMPTY = Buffer.alloc(0);

/** The default largest frame: a 20 MiB value plus key, extras and header room, as kv_engine. */
export const MAX_FRAME_BYTES = 21 * 1024 * 1024;

/**
 * Reassembles frames from arbitrary chunk boundaries, in time linear in the bytes: a frame that
 * spans chunks is held as the list of its chunks and copied once, when its last byte arrives
 * (joining every chunk onto what was held, as before, made a 21 MiB frame sent in 64 KiB pieces
 * cost ~7 GB of copying). The header is checked as soon as its 24 bytes are in, so an oversized
 * frame is refused before its body is buffered. Frames are yielded as views into the current
 * buffer; callers copy what they keep.
 */
export class FrameReader {
  /** Chunks of the frame (or the header) not complete yet. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** Total bytes of the held frame once its header is in; 0 before. */
  #need = 0;
  /** Largest frame accepted; may be changed between pushes (the pre-authentication cap). */
  maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Calls `onFrame` for each complete frame in order; throws MalformedFrameError on garbage. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    let buf = chunk;
    if (this.#heldBytes > 0) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#need === 0 && this.#heldBytes >= 24) {
        const header = Buffer.concat(this.#held, this.#heldBytes).subarray(0, 24);
        this.#need = this.#frameSize(header, 0);
      }
      if (this.#heldBytes < (this.#need || 24)) return; // still short: nothing copied
      buf = Buffer.concat(this.#held, this.#heldBytes);
      this.#held = [];
      this.#heldBytes = 0;
      this.#need = 0;
    }
    let off = 0;
    while (buf.length - off >= 24) {
      const total = this.#frameSize(buf, off);
      if (buf.length - off < total) {
        this.#need = total;
        break;
      }
      const magic = buf[off];
      let flexLen = 0;
      let keyLen: number;
      if (magic === MAGIC_ALT_REQ) {
        flexLen = buf[off + 2];
        keyLen = buf[off + 3];
      } else {
        keyLen = buf.readUInt16BE(off + 2);
      }
      const extLen = buf[off + 4];
      const bodyLen = total - 24;
      if (flexLen + extLen + keyLen > bodyLen)
        throw new MalformedFrameError('lengths exceed body', 'lengths');
      const b = off + 24;
      const f: Frame = {
        magic,
        opcode: buf[off + 1],
        datatype: buf[off + 5],
        vbOrStatus: buf.readUInt16BE(off + 6),
        opaque: buf.readUInt32BE(off + 12),
        cas: buf.readBigUInt64BE(off + 16),
        framingExtras: flexLen ? buf.subarray(b, b + flexLen) : EMPTY,
        extras: extLen ? buf.subarray(b + flexLen, b + flexLen + extLen) : EMPTY,
        key: keyLen ? buf.subarray(b + flexLen + extLen, b + flexLen + extLen + keyLen) : EMPTY,
        value: buf.subarray(b + flexLen + extLen + keyLen, off + total),
        size: total,
      };
      off += total;
      onFrame(f);
    }
    if (off < buf.length) {
      // The rest (less than one frame) is copied: a view would keep the whole chunk alive.
      this.#held = [Buffer.from(buf.subarray(off))];
      this.#heldBytes = buf.length - off;
    }
  }

  /** Checks the header at `off` and returns the frame's total size. */
  #frameSize(buf: Buffer, off: number): number {
    const magic = buf[off];
    if (magic !== MAGIC_REQ && magic !== MAGIC_RES && magic !== MAGIC_ALT_REQ && magic !== MAGIC_SERVER_RES)
      throw new MalformedFrameError(`bad magic 0x${magic.toString(16)}`, 'bad-magic');
    const total = 24 + buf.readUInt32BE(off + 8);
    if (total > this.maxFrameBytes)
      throw new MalformedFrameError(
        `frame of ${total} bytes too large (limit ${this.maxFrameBytes})`,
        'too-large',
      );
    return total;
  }

  get buffered(): number {
    return this.#heldBytes;
  }
}

/** Parsed FrameInfo entries of a flexible-framing request. Throws on malformed framing extras. */
export function parseFrameInfos(fe: Buffer): { id: number; data: Buffer }[] {
  const out: { id: number; data: Buffer }[] = [];
  let i = 0;
  while (i < fe.length) {
    const b = fe[i++];
    let id = b >> 4;
    let len = b & 0x0f;
    if (id === 15) {
      if (i >= fe.length) throw new MalformedFrameError('bad frame info', 'frame-info');
      id += fe[i++];
    }
    if (len === 15) {
      if (i >= fe.length) throw new MalformedFrameError('bad frame info', 'frame-info');
      len += fe[i++];
    }
    if (i + len > fe.length) throw new MalformedFrameError('frame info overruns', 'frame-info');
    out.push({ id, data: fe.subarray(i, i + len) });
    i += len;
  }
  return out;
}

/**
 * Accumulates encoded packets into large buffers; `take()` hands back everything written so
 * far as one Buffer (or a few, when a single packet was larger than the chunk size).
 */
export class BatchWriter {
  buf: Buffer;
  pos = 0;
  #done: Buffer[] = [];
  #doneBytes = 0;

  constructor(readonly chunkSize = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  get length(): number {
    return this.#doneBytes + this.pos;
  }

  /** Ensures `n` contiguous bytes are available at `this.pos`. */
  reserve(n: number): void {
    if (this.buf.length - this.pos >= n) return;
    if (this.pos > 0) {
      this.#done.push(this.buf.subarray(0, this.pos));
      this.#doneBytes += this.pos;
    }
    this.buf = Buffer.allocUnsafe(Math.max(this.chunkSize, n));
    this.pos = 0;
  }

  take(): Buffer[] {
    const out = this.#done;
    if (this.pos > 0) {
      out.push(this.buf.subarray(0, this.pos));
      // Keep filling the rest of the current chunk: the slice handed out is never written again.
      this.buf = this.buf.subarray(this.pos);
      if (this.buf.length < 4096) this.buf = Buffer.allocUnsafe(this.chunkSize);
      this.pos = 0;
    }
    this.#done = [];
    this.#doneBytes = 0;
    return out;
  }

  /** Writes a 24-byte header at the current position and advances. */
  header(
    magic: number,
    opcode: number,
    keyLen: number,
    extLen: number,
    datatype: number,
    vbOrStatus: number,
    bodyLen: number,
    opaque: number,
    cas: bigint,
  ): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = magic;
    b[p + 1] = opcode;
    b[p + 2] = keyLen >>> 8;
    b[p + 3] = keyLen & 0xff;
    b[p + 4] = extLen;
    b[p + 5] = datatype;
    b[p + 6] = vbOrStatus >>> 8;
    b[p + 7] = vbOrStatus & 0xff;
    b.writeUInt32BE(bodyLen, p + 8);
    b.writeUInt32BE(opaque >>> 0, p + 12);
    if (cas === 0n) {
      b.writeUInt32BE(0, p + 16);
      b.writeUInt32BE(0, p + 20);
    } else b.writeBigUInt64BE(cas, p + 16);
    this.pos = p + 24;
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  /** Unsigned 64-bit from a JS number (seqnos ≤ 2^53-1). */
  u64n(v: number): void {
    const hi = Math.floor(v / 0x100000000);
    this.buf.writeUInt32BE(hi, this.pos);
    this.buf.writeUInt32BE(v - hi * 0x100000000, this.pos + 4);
    this.pos += 8;
  }
  u64(v: bigint): void {
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }
  bytes(src: Uint8Array): void {
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** A complete response packet. */
  response(
    opcode: number,
    status: number,
    opaque: number,
    opts: { cas?: bigint; key?: Uint8Array; extras?: Uint8Array; value?: Uint8Array; datatype?: number } = {},
  ): void {
    const k = opts.key?.length ?? 0;
    const e = opts.extras?.length ?? 0;
    const v = opts.value?.length ?? 0;
    this.reserve(24 + k + e + v);
    this.header(MAGIC_RES, opcode, k, e, opts.datatype ?? 0, status, k + e + v, opaque, opts.cas ?? 0n);
    if (e) this.bytes(opts.extras!);
    if (k) this.bytes(opts.key!);
    if (v) this.bytes(opts.value!);
  }

  /** A server-initiated request (0x80 on DCP connections, 0x82 for duplex pushes). */
  request(
    magic: number,
    opcode: number,
    vbucket: number,
    opaque: number,
    opts: { cas?: bigint; key?: Uint8Array; extras?: Uint8Array; value?: Uint8Array; datatype?: number } = {},
  ): number {
    const k = opts.key?.length ?? 0;
    const e = opts.extras?.length ?? 0;
    const v = opts.value?.length ?? 0;
    this.reserve(24 + k + e + v);
    this.header(magic, opcode, k, e, opts.datatype ?? 0, vbucket, k + e + v, opaque, opts.cas ?? 0n);
    if (e) this.bytes(opts.extras!);
    if (k) this.bytes(opts.key!);
    if (v) this.bytes(opts.value!);
    return 24 + k + e + v;
  }
}

export function readU64n(b: Buffer, off: number): number {
  const hi = b.readUInt32BE(off);
  const lo = b.readUInt32BE(off + 4);
  return hi * 0x100000000 + lo;
}

/** Unsigned LEB128 decode: { value, length } or undefined when truncated/overlong. */
export function readLeb128(b: Buffer): { value: number; length: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let i = 0; i < b.length && i < 5; i++) {
    const byte = b[i];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, length: i + 1 };
    shift += 7;
  }
  return undefined;
}

export function u64Buf(v: bigint | number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}
