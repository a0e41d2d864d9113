// KV commands: GET, SET/ADD/REPLACE, DELETE, TOUCH, NOOP, GET_ALL_VB_SEQNOS and their replies.
import { Magic, Opcode, Status } from './constants.js';
import { ErrBadExtras, ErrBadValue, ErrEncode, ErrUnexpectedPacket } from './errors.js';
import {
  bufOf,
  bytes,
  checkPacket,
  expectExtras,
  expectRequest,
  expectResponse,
  readSeqno,
  request,
  u8,
  u16,
  u32,
  writeSeqno,
  writeU64,
} from './internal/wire.js';
import { encodePacket, type Packet } from './packet.js';

export interface Get {
  vbucket: number;
  opaque: number;
  key: Buffer;
}

export function encodeGet(f: Get): Buffer {
  return request(
    { opcode: Opcode.Get, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque, key: bytes('key', f.key) },
    undefined,
  );
}

export function decodeGet(p: Packet): Get {
  expectRequest(p, Opcode.Get, 'GET');
  expectExtras(p, 0);
  return { vbucket: p.vbucket, opaque: p.opaque, key: bufOf(p.key) };
}

export interface GetResponse {
  opaque: number;
  status: number;
  cas: bigint;
  /** Document flags (extras, on success). */
  flags: number;
  datatype: number;
  value: Buffer;
  /** GETK only. */
  key?: Buffer;
}

export function encodeGetResponse(f: GetResponse): Buffer {
  let extras: Buffer | undefined;
  if (f.status === Status.Success) {
    extras = Buffer.allocUnsafe(4);
    extras.writeUInt32BE(u32('flags', f.flags), 0);
  }
  return encodePacket({
    magic: Magic.Response,
    opcode: f.key !== undefined ? Opcode.GetK : Opcode.Get,
    status: u16('status', f.status),
    opaque: f.opaque,
    cas: f.cas,
    datatype: u8('datatype', f.datatype),
    extras,
    key: f.key,
    value: f.value,
  });
}

export function decodeGetResponse(p: Packet): GetResponse {
  checkPacket(p);
  if (p.opcode === Opcode.GetK) expectResponse(p, Opcode.GetK, 'GETK');
  else expectResponse(p, Opcode.Get, 'GET');
  const e = expectExtras(p, 0, 4);
  const out: GetResponse = {
    opaque: p.opaque,
    status: p.status,
    cas: p.cas,
    flags: e.length === 4 ? e.readUInt32BE(0) : 0,
    datatype: p.datatype,
    value: bufOf(p.value),
  };
  const k = bufOf(p.key);
  if (p.opcode === Opcode.GetK || k.length > 0) out.key = k;
  return out;
}

const STORE_OPS: readonly number[] = [Opcode.Set, Opcode.Add, Opcode.Replace];

export interface Store {
  /** Opcode.Set, Opcode.Add or Opcode.Replace. */
  opcode: number;
  vbucket: number;
  opaque: number;
  /** Non-zero ⇒ compare-and-swap. */
  cas: bigint;
  key: Buffer;
  value: Buffer;
  flags: number;
  /** 0 none, ≤ 30 days relative seconds, else absolute Unix time. */
  expiry: number;
  datatype: number;
}

export function encodeStore(f: Store): Buffer {
  if (!STORE_OPS.includes(f.opcode))
    throw ErrEncode(`store opcode 0x${Number(f.opcode).toString(16)} is not SET/ADD/REPLACE`);
  const extras = Buffer.allocUnsafe(8);
  extras.writeUInt32BE(u32('flags', f.flags), 0);
  extras.writeUInt32BE(u32('expiry', f.expiry), 4);
  return request(
    {
      opcode: f.opcode,
      vbucket: u16('vbucket', f.vbucket),
      opaque: f.opaque,
      cas: f.cas,
      datatype: u8('datatype', f.datatype),
      extras,
      key: bytes('key', f.key),
      value: bytes('value', f.value),
    },
    undefined,
  );
}

export function decodeStore(p: Packet): Store {
  checkPacket(p);
  if (!STORE_OPS.includes(p.opcode)) throw ErrUnexpectedPacket('SET/ADD/REPLACE request', p.magic, p.opcode);
  expectRequest(p, p.opcode, 'SET/ADD/REPLACE');
  const e = expectExtras(p, 8);
  return {
    opcode: p.opcode,
    vbucket: p.vbucket,
    opaque: p.opaque,
    cas: p.cas,
    key: bufOf(p.key),
    value: bufOf(p.value),
    flags: e.readUInt32BE(0),
    expiry: e.readUInt32BE(4),
    datatype: p.datatype,
  };
}

export interface Delete {
  vbucket: number;
  opaque: number;
  cas: bigint;
  key: Buffer;
}

export function encodeDelete(f: Delete): Buffer {
  return request(
    {
      opcode: Opcode.Delete,
      vbucket: u16('vbucket', f.vbucket),
      opaque: f.opaque,
      cas: f.cas,
      key: bytes('key', f.key),
    },
    undefined,
  );
}

export function decodeDelete(p: Packet): Delete {
  expectRequest(p, Opcode.Delete, 'DELETE');
  expectExtras(p, 0);
  return { vbucket: p.vbucket, opaque: p.opaque, cas: p.cas, key: bufOf(p.key) };
}

export interface Touch {
  vbucket: number;
  opaque: number;
  key: Buffer;
  expiry: number;
}

export function encodeTouch(f: Touch): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(u32('expiry', f.expiry), 0);
  return request(
    {
      opcode: Opcode.Touch,
      vbucket: u16('vbucket', f.vbucket),
      opaque: f.opaque,
      extras,
      key: bytes('key', f.key),
    },
    undefined,
  );
}

export function decodeTouch(p: Packet): Touch {
  expectRequest(p, Opcode.Touch, 'TOUCH');
  const e = expectExtras(p, 4);
  return { vbucket: p.vbucket, opaque: p.opaque, key: bufOf(p.key), expiry: e.readUInt32BE(0) };
}

export interface Noop {
  opaque: number;
}

export function encodeNoop(f: Noop): Buffer {
  return request({ opcode: Opcode.Noop, opaque: f.opaque }, undefined);
}

export function decodeNoop(p: Packet): Noop {
  expectRequest(p, Opcode.Noop, 'NOOP');
  expectExtras(p, 0);
  return { opaque: p.opaque };
}

/** Reply to SET/ADD/REPLACE/DELETE/TOUCH; with HELLO MutationSeqno it carries {vbuuid, seqno}. */
export interface MutationResponse {
  opcode: number;
  opaque: number;
  status: number;
  cas: bigint;
  vbucketUuid?: bigint;
  seqno?: number;
}

export function encodeMutationResponse(f: MutationResponse): Buffer {
  let extras: Buffer | undefined;
  if (f.vbucketUuid !== undefined || f.seqno !== undefined) {
    extras = Buffer.allocUnsafe(16);
    writeU64(extras, 0, f.vbucketUuid ?? 0n, 'vbucketUuid');
    writeSeqno(extras, 8, f.seqno ?? 0, 'seqno');
  }
  return encodePacket({
    magic: Magic.Response,
    opcode: u8('opcode', f.opcode),
    status: u16('status', f.status),
    opaque: f.opaque,
    cas: f.cas,
    extras,
  });
}

export function decodeMutationResponse(p: Packet): MutationResponse {
  checkPacket(p);
  if (p.magic !== Magic.Response && p.magic !== Magic.AltResponse) {
    throw ErrUnexpectedPacket('a mutation response', p.magic, p.opcode);
  }
  const e = bufOf(p.extras);
  if (e.length !== 0 && e.length !== 16) throw ErrBadExtras(p.opcode, e.length, '0 or 16');
  const out: MutationResponse = { opcode: p.opcode, opaque: p.opaque, status: p.status, cas: p.cas };
  if (e.length === 16) {
    out.vbucketUuid = e.readBigUInt64BE(0);
    out.seqno = readSeqno(e, 8, 'seqno');
  }
  return out;
}

export interface GetAllVbSeqnos {
  opaque: number;
  /** Only vbuckets in this VbucketState (0 = any alive). */
  state?: number;
  /** Only this collection's high seqnos (needs `state`). */
  collectionId?: number;
}

export function encodeGetAllVbSeqnos(f: GetAllVbSeqnos): Buffer {
  let extras: Buffer | undefined;
  if (f.collectionId !== undefined) {
    extras = Buffer.allocUnsafe(8);
    extras.writeUInt32BE(u32('state', f.state ?? 0), 0);
    extras.writeUInt32BE(u32('collectionId', f.collectionId), 4);
  } else if (f.state !== undefined) {
    extras = Buffer.allocUnsafe(4);
    extras.writeUInt32BE(u32('state', f.state), 0);
  }
  return request({ opcode: Opcode.GetAllVbSeqnos, opaque: f.opaque, extras }, undefined);
}

export function decodeGetAllVbSeqnos(p: Packet): GetAllVbSeqnos {
  expectRequest(p, Opcode.GetAllVbSeqnos, 'GET_ALL_VB_SEQNOS');
  const e = expectExtras(p, 0, 4, 8);
  const out: GetAllVbSeqnos = { opaque: p.opaque };
  if (e.length >= 4) out.state = e.readUInt32BE(0);
  if (e.length === 8) out.collectionId = e.readUInt32BE(4);
  return out;
}

export interface VbSeqno {
  vbucket: number;
  seqno: number;
}

export interface GetAllVbSeqnosResponse {
  opaque: number;
  status: number;
  /** Sorted by vbucket. */
  entries: VbSeqno[];
}

export function encodeGetAllVbSeqnosResponse(f: GetAllVbSeqnosResponse): Buffer {
  const value = Buffer.allocUnsafe(f.entries.length * 10);
  for (let i = 0; i < f.entries.length; i++) {
    value.writeUInt16BE(u16('vbucket', f.entries[i].vbucket), i * 10);
    writeSeqno(value, i * 10 + 2, f.entries[i].seqno, 'seqno');
  }
  return encodePacket({
    magic: Magic.Response,
    opcode: Opcode.GetAllVbSeqnos,
    status: u16('status', f.status),
    opaque: f.opaque,
    value,
  });
}

/** The `{vbucket, seqno}` list of a GET_ALL_VB_SEQNOS reply. */
export function decodeGetAllVbSeqnosResponse(p: Packet): VbSeqno[] {
  expectResponse(p, Opcode.GetAllVbSeqnos, 'GET_ALL_VB_SEQNOS');
  const v = bufOf(p.value);
  if (v.length % 10 !== 0)
    throw ErrBadValue(`GET_ALL_VB_SEQNOS value of ${v.length} bytes is not a multiple of 10`);
  const out: VbSeqno[] = [];
  for (let o = 0; o < v.length; o += 10)
    out.push({ vbucket: v.readUInt16BE(o), seqno: readSeqno(v, o + 2, 'seqno') });
  return out;
}
