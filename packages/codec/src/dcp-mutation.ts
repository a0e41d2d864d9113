// DCP_MUTATION (0x57), DCP_DELETION (0x58, v1 and v2), DCP_EXPIRATION (0x59): the hot path.
import { Magic, Opcode } from './constants.js';
import { ErrEncode } from './errors.js';
import {
  allocRequest,
  bufOf,
  bytes,
  casAt,
  checkPacket,
  expectExtras,
  expectRequest,
  readSeqno,
  u32,
  u32At,
  withStreamId,
  writeSeqno,
} from './internal/wire.js';
import { type Packet, WirePacket } from './packet.js';

export interface DcpMutation {
  vbucket: number;
  opaque: number;
  cas: bigint;
  /** Datatype bits of `value` (JSON/Snappy/Xattr). */
  datatype: number;
  bySeqno: number;
  revSeqno: number;
  /** Document flags, verbatim. */
  flags: number;
  /** Absolute expiry (Unix seconds), 0 = none. */
  expiry: number;
  lockTime: number;
  key: Buffer;
  value: Buffer;
  streamId?: number;
}

export function encodeDcpMutation(f: DcpMutation): Buffer {
  const { buf, extrasAt: e } = allocRequest(
    Opcode.DcpMutation,
    f.vbucket,
    f.opaque,
    f.cas,
    f.datatype,
    31,
    bytes('key', f.key),
    bytes('value', f.value),
    f.streamId,
  );
  writeSeqno(buf, e, f.bySeqno, 'bySeqno');
  writeSeqno(buf, e + 8, f.revSeqno, 'revSeqno');
  buf.writeUInt32BE(u32('flags', f.flags), e + 16);
  buf.writeUInt32BE(u32('expiry', f.expiry), e + 20);
  buf.writeUInt32BE(u32('lockTime', f.lockTime), e + 24);
  buf.writeUInt16BE(0, e + 28); // nmeta
  buf[e + 30] = 0; // nru
  return buf;
}

export function decodeDcpMutation(p: Packet): DcpMutation {
  checkPacket(p);
  if (p instanceof WirePacket) {
    const b = p._b;
    const o = p._o;
    if (b[o] === Magic.Request && b[o + 1] === Opcode.DcpMutation && b[o + 4] === 31)
      return decodeWireMutation(b, o);
  }
  expectRequest(p, Opcode.DcpMutation, 'DCP_MUTATION');
  const e = expectExtras(p, 31);
  return withStreamId(
    {
      vbucket: p.vbucket,
      opaque: p.opaque,
      cas: p.cas,
      datatype: p.datatype,
      bySeqno: readSeqno(e, 0, 'bySeqno'),
      revSeqno: readSeqno(e, 8, 'revSeqno'),
      flags: e.readUInt32BE(16),
      expiry: e.readUInt32BE(20),
      lockTime: e.readUInt32BE(24),
      key: bufOf(p.key),
      value: bufOf(p.value),
    },
    p,
  );
}

/** Fast path for a classic (0x80) mutation straight off the wire: reads the frame directly. */
function decodeWireMutation(b: Buffer, o: number): DcpMutation {
  const keyLen = (b[o + 2] << 8) | b[o + 3];
  const body = u32At(b, o + 8);
  const k = o + 55;
  return {
    vbucket: (b[o + 6] << 8) | b[o + 7],
    opaque: u32At(b, o + 12),
    cas: casAt(b, o + 16),
    datatype: b[o + 5],
    bySeqno: readSeqno(b, o + 24, 'bySeqno'),
    revSeqno: readSeqno(b, o + 32, 'revSeqno'),
    flags: u32At(b, o + 40),
    expiry: u32At(b, o + 44),
    lockTime: u32At(b, o + 48),
    key: b.subarray(k, k + keyLen),
    value: b.subarray(k + keyLen, o + 24 + body),
  };
}

export interface DcpDeletion {
  vbucket: number;
  opaque: number;
  cas: bigint;
  datatype: number;
  bySeqno: number;
  revSeqno: number;
  /** Version 2 only (OPEN flag IncludeDeleteTimes): Unix seconds of the deletion. */
  deleteTime?: number;
  key: Buffer;
  /** Usually empty; may hold xattrs. */
  value: Buffer;
  /** 1 = 18-byte extras, 2 = 21-byte extras with deleteTime. */
  version: 1 | 2;
  streamId?: number;
}

export function encodeDcpDeletion(f: DcpDeletion): Buffer {
  if (f.version !== 1 && f.version !== 2)
    throw ErrEncode(`deletion version ${String(f.version)} (expected 1 or 2)`);
  const { buf, extrasAt: e } = allocRequest(
    Opcode.DcpDeletion,
    f.vbucket,
    f.opaque,
    f.cas,
    f.datatype,
    f.version === 2 ? 21 : 18,
    bytes('key', f.key),
    bytes('value', f.value),
    f.streamId,
  );
  writeSeqno(buf, e, f.bySeqno, 'bySeqno');
  writeSeqno(buf, e + 8, f.revSeqno, 'revSeqno');
  if (f.version === 2) {
    buf.writeUInt32BE(u32('deleteTime', f.deleteTime ?? 0), e + 16);
    buf[e + 20] = 0;
  } else {
    buf.writeUInt16BE(0, e + 16); // nmeta
  }
  return buf;
}

export function decodeDcpDeletion(p: Packet): DcpDeletion {
  expectRequest(p, Opcode.DcpDeletion, 'DCP_DELETION');
  const e = expectExtras(p, 18, 21);
  const out: DcpDeletion = {
    vbucket: p.vbucket,
    opaque: p.opaque,
    cas: p.cas,
    datatype: p.datatype,
    bySeqno: readSeqno(e, 0, 'bySeqno'),
    revSeqno: readSeqno(e, 8, 'revSeqno'),
    key: bufOf(p.key),
    value: bufOf(p.value),
    version: e.length === 21 ? 2 : 1,
  };
  if (e.length === 21) out.deleteTime = e.readUInt32BE(16);
  return withStreamId(out, p);
}

export interface DcpExpiration {
  vbucket: number;
  opaque: number;
  cas: bigint;
  bySeqno: number;
  revSeqno: number;
  deleteTime: number;
  key: Buffer;
  /** Present only when the packet carries a datatype or a value (normally neither). */
  datatype?: number;
  value?: Buffer;
  streamId?: number;
}

export function encodeDcpExpiration(f: DcpExpiration): Buffer {
  const { buf, extrasAt: e } = allocRequest(
    Opcode.DcpExpiration,
    f.vbucket,
    f.opaque,
    f.cas,
    f.datatype ?? 0,
    20,
    bytes('key', f.key),
    bytes('value', f.value),
    f.streamId,
  );
  writeSeqno(buf, e, f.bySeqno, 'bySeqno');
  writeSeqno(buf, e + 8, f.revSeqno, 'revSeqno');
  buf.writeUInt32BE(u32('deleteTime', f.deleteTime), e + 16);
  return buf;
}

export function decodeDcpExpiration(p: Packet): DcpExpiration {
  expectRequest(p, Opcode.DcpExpiration, 'DCP_EXPIRATION');
  const e = expectExtras(p, 20);
  const out: DcpExpiration = {
    vbucket: p.vbucket,
    opaque: p.opaque,
    cas: p.cas,
    bySeqno: readSeqno(e, 0, 'bySeqno'),
    revSeqno: readSeqno(e, 8, 'revSeqno'),
    deleteTime: e.readUInt32BE(16),
    key: bufOf(p.key),
  };
  if (p.datatype !== 0) out.datatype = p.datatype;
  const v = bufOf(p.value);
  if (v.length > 0) out.value = v;
  return withStreamId(out, p);
}
