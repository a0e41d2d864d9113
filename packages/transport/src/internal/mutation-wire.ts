// Wire messages of the mutation stream, carried as transport posts. See the README for the layout.
import { ErrBadFrame } from '@tributary/codec';
import type { MessageType } from '../message-type.js';
import type { Mutation } from '../mutation.js';

export const MSTREAM_VERSION = 'tributary-mstream/1';

export const MsgId = { Mutation: 1, Control: 2, Ack: 3, Nack: 4, Bye: 5 } as const;
export const ControlOp = { Begin: 1, End: 2, Snapshot: 3 } as const;
const KIND_CODE = { mutation: 1, deletion: 2, expiration: 3 } as const;
const KIND_NAME = [undefined, 'mutation', 'deletion', 'expiration'] as const;
const U32 = 0x100000000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function writeU64(b: Buffer, o: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / U32), o);
  b.writeUInt32BE(n >>> 0, o + 4);
}
export function readU64(b: Buffer, o: number): number {
  const v = b.readUInt32BE(o) * U32 + b.readUInt32BE(o + 4);
  if (v > MAX_SAFE) throw ErrBadFrame(`u64 ${v} above 2^53-1`);
  return v;
}

export const MUTATION_HEADER = 56;

export interface WireMutation {
  msn: number;
  prevSeqno: number;
  m: Mutation;
}

/** Encodes a mutation message (payload of a MsgId.Mutation post). */
export function encodeMutation(msn: number, prevSeqno: number, m: Mutation): Buffer {
  const key = m.key;
  const value = m.value;
  const b = Buffer.allocUnsafe(MUTATION_HEADER + key.length + value.length);
  writeU64(b, 0, msn);
  b.writeUInt16BE(m.vbucket, 8);
  b[10] = KIND_CODE[m.kind];
  b[11] = 0;
  b.writeBigUInt64BE(m.vbuuid, 12);
  writeU64(b, 20, m.seqno);
  writeU64(b, 28, prevSeqno);
  b.writeBigUInt64BE(m.cas, 36);
  b.writeUInt32BE(m.flags >>> 0, 44);
  b.writeUInt32BE(m.expiry >>> 0, 48);
  b.writeUInt32BE(key.length, 52);
  key.copy(b, MUTATION_HEADER);
  value.copy(b, MUTATION_HEADER + key.length);
  return b;
}

export function decodeMutation(p: Buffer): WireMutation {
  if (p.length < MUTATION_HEADER) throw ErrBadFrame(`mutation message of ${p.length} bytes`);
  const kind = KIND_NAME[p[10] as number];
  if (kind === undefined) throw ErrBadFrame(`mutation kind ${p[10]}`);
  const keyLen = p.readUInt32BE(52);
  if (MUTATION_HEADER + keyLen > p.length) throw ErrBadFrame('mutation key longer than the message');
  return {
    msn: readU64(p, 0),
    prevSeqno: readU64(p, 28),
    m: {
      vbucket: p.readUInt16BE(8),
      kind,
      vbuuid: p.readBigUInt64BE(12),
      seqno: readU64(p, 20),
      cas: p.readBigUInt64BE(36),
      flags: p.readUInt32BE(44),
      expiry: p.readUInt32BE(48),
      key: p.subarray(MUTATION_HEADER, MUTATION_HEADER + keyLen),
      value: p.subarray(MUTATION_HEADER + keyLen),
    },
  };
}

export interface WireControl {
  msn: number;
  vbucket: number;
  op: number;
  vbuuid: bigint;
  a: number;
  b: number;
  flags: number;
}

export function encodeControl(c: WireControl): Buffer {
  const b = Buffer.allocUnsafe(40);
  writeU64(b, 0, c.msn);
  b.writeUInt16BE(c.vbucket, 8);
  b[10] = c.op;
  b[11] = 0;
  b.writeBigUInt64BE(c.vbuuid, 12);
  writeU64(b, 20, c.a);
  writeU64(b, 28, c.b);
  b.writeUInt32BE(c.flags >>> 0, 36);
  return b;
}

export function decodeControl(p: Buffer): WireControl {
  if (p.length !== 40) throw ErrBadFrame(`control message of ${p.length} bytes`);
  const op = p[10] as number;
  if (op < 1 || op > 3) throw ErrBadFrame(`control op ${op}`);
  return {
    msn: readU64(p, 0),
    vbucket: p.readUInt16BE(8),
    op,
    vbuuid: p.readBigUInt64BE(12),
    a: readU64(p, 20),
    b: readU64(p, 28),
    flags: p.readUInt32BE(36),
  };
}

export interface WireNack {
  msn: number;
  vbucket: number;
  code: string;
  message: string;
}

const raw = (id: number, name: string): MessageType<Buffer> => ({
  id,
  name,
  encode: (m) => m,
  decode: (p) => p,
});
export const mutationType = raw(MsgId.Mutation, 'mstream.mutation');
export const controlType = raw(MsgId.Control, 'mstream.control');
export const byeType = raw(MsgId.Bye, 'mstream.bye');
export const ackType: MessageType<number> = {
  id: MsgId.Ack,
  name: 'mstream.ack',
  encode: (msn) => {
    const b = Buffer.allocUnsafe(8);
    writeU64(b, 0, msn);
    return b;
  },
  decode: (p) => {
    if (p.length !== 8) throw ErrBadFrame(`ack of ${p.length} bytes`);
    return readU64(p, 0);
  },
};
export const nackType: MessageType<WireNack> = {
  id: MsgId.Nack,
  name: 'mstream.nack',
  encode: (n) => {
    const text = Buffer.from(JSON.stringify({ code: n.code, message: n.message }));
    const b = Buffer.allocUnsafe(10 + text.length);
    writeU64(b, 0, n.msn);
    b.writeUInt16BE(n.vbucket, 8);
    text.copy(b, 10);
    return b;
  },
  decode: (p) => {
    if (p.length < 10) throw ErrBadFrame(`nack of ${p.length} bytes`);
    let code = 'TRIB_MSTREAM_NACK';
    let message = '';
    try {
      const v = JSON.parse(p.toString('utf8', 10)) as { code?: string; message?: string };
      code = String(v.code ?? code);
      message = String(v.message ?? '');
    } catch {
      throw ErrBadFrame('nack text is not JSON');
    }
    return { msn: readU64(p, 0), vbucket: p.readUInt16BE(8), code, message };
  },
};
