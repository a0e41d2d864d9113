// Outgoing client packets and the few DCP field reads the hot path needs (big-endian, §1 / §3).
import { encodePacket, Magic, Opcode } from '@tributary/codec';

const REQ = Magic.Request;

export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * 4294967296 + buf.readUInt32BE(offset + 4);
}

export function u64(n: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(typeof n === 'bigint' ? n : BigInt(n));
  return b;
}

export function helloPacket(opaque: number, agent: string, features: readonly number[]): Buffer {
  const value = Buffer.allocUnsafe(features.length * 2);
  for (let i = 0; i < features.length; i++) value.writeUInt16BE(features[i]!, i * 2);
  return encodePacket({ magic: REQ, opcode: Opcode.Hello, opaque, key: agent, value });
}

export function listMechsPacket(opaque: number): Buffer {
  return encodePacket({ magic: REQ, opcode: Opcode.SaslListMechs, opaque });
}

export function saslPacket(opcode: number, opaque: number, mechanism: string, data: Uint8Array): Buffer {
  return encodePacket({ magic: REQ, opcode, opaque, key: mechanism, value: data });
}

export function selectBucketPacket(opaque: number, bucket: string): Buffer {
  return encodePacket({ magic: REQ, opcode: Opcode.SelectBucket, opaque, key: bucket });
}

export function getCollectionsManifestPacket(opaque: number): Buffer {
  return encodePacket({ magic: REQ, opcode: Opcode.GetCollectionsManifest, opaque });
}

export function dcpOpenPacket(opaque: number, name: string, flags: number): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(flags >>> 0, 4);
  return encodePacket({ magic: REQ, opcode: Opcode.DcpOpen, opaque, key: name, extras });
}

export function dcpControlPacket(opaque: number, key: string, value: string): Buffer {
  return encodePacket({ magic: REQ, opcode: Opcode.DcpControl, opaque, key, value });
}

export interface StreamReqFields {
  vbucket: number;
  opaque: number;
  flags: number;
  startSeqno: number;
  endSeqno: number;
  vbucketUuid: bigint;
  snapStart: number;
  snapEnd: number;
  /** The JSON stream-request value (a collection filter), if any. */
  value?: Buffer;
}

export const SEQNO_MAX = 0xffffffffffffffffn;

export function streamReqPacket(f: StreamReqFields): Buffer {
  const extras = Buffer.allocUnsafe(48);
  extras.writeUInt32BE(f.flags >>> 0, 0);
  extras.writeUInt32BE(0, 4);
  extras.writeBigUInt64BE(BigInt(f.startSeqno), 8);
  extras.writeBigUInt64BE(f.endSeqno >= Number.MAX_SAFE_INTEGER ? SEQNO_MAX : BigInt(f.endSeqno), 16);
  extras.writeBigUInt64BE(f.vbucketUuid, 24);
  extras.writeBigUInt64BE(BigInt(f.snapStart), 32);
  extras.writeBigUInt64BE(BigInt(f.snapEnd), 40);
  return encodePacket({
    magic: REQ,
    opcode: Opcode.DcpStreamReq,
    opaque: f.opaque,
    vbucket: f.vbucket,
    extras,
    value: f.value,
  });
}

export function closeStreamPacket(opaque: number, vbucket: number): Buffer {
  return encodePacket({ magic: REQ, opcode: Opcode.DcpCloseStream, opaque, vbucket });
}

export function bufferAckPacket(bytes: number): Buffer {
  const b = Buffer.allocUnsafe(28);
  b.fill(0, 0, 24);
  b[0] = REQ;
  b[1] = Opcode.DcpBufferAcknowledgement;
  b[4] = 4;
  b.writeUInt32BE(4, 8);
  b.writeUInt32BE(bytes >>> 0, 24);
  return b;
}

export function noopPacket(opaque: number): Buffer {
  return encodePacket({ magic: REQ, opcode: Opcode.Noop, opaque });
}

/** The reply to a producer's DCP_NOOP: 0x81/0x5c, same opaque, status 0. */
export function dcpNoopReply(opaque: number): Buffer {
  return encodePacket({ magic: Magic.Response, opcode: Opcode.DcpNoop, opaque, status: 0 });
}

export function getAllVbSeqnosPacket(opaque: number, state: number): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(state, 0);
  return encodePacket({ magic: REQ, opcode: Opcode.GetAllVbSeqnos, opaque, extras });
}

export interface FailoverPair {
  vbucketUuid: bigint;
  seqno: number;
}

/** Failover log value: {u64 uuid, u64 seqno} × N, newest first. Throws RangeError when malformed. */
export function parseFailoverLog(value: Buffer): FailoverPair[] {
  if (value.length % 16 !== 0)
    throw new RangeError(`failover log of ${value.length} bytes is not a multiple of 16`);
  const out: FailoverPair[] = [];
  for (let o = 0; o < value.length; o += 16) {
    out.push({ vbucketUuid: value.readBigUInt64BE(o), seqno: readU64(value, o + 8) });
  }
  return out;
}

/** The features a HELLO reply agreed to (u16 each). */
export function helloFeatures(value: Buffer): Set<number> {
  const out = new Set<number>();
  for (let o = 0; o + 2 <= value.length; o += 2) out.add(value.readUInt16BE(o));
  return out;
}

/** GET_ALL_VB_SEQNOS value: {u16 vb, u64 seqno}…; calls `f` for each pair. */
export function forEachVbSeqno(value: Buffer, f: (vb: number, seqno: number) => void): void {
  for (let o = 0; o + 10 <= value.length; o += 10) f(value.readUInt16BE(o), readU64(value, o + 2));
}
