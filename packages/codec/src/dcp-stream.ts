// DCP stream lifecycle: STREAM_REQ (+ reply), GET_FAILOVER_LOG (+ reply), CLOSE_STREAM, STREAM_END,
// SET_VBUCKET_STATE, SEQNO_ADVANCED, OSO_SNAPSHOT, SYSTEM_EVENT.
import { Magic, Opcode, Status } from './constants.js';
import { ErrBadValue } from './errors.js';
import { decodeFailoverLog, encodeFailoverLog, type FailoverLog } from './failover-log.js';
import {
  bufOf,
  bytes,
  expectExtras,
  expectRequest,
  expectResponse,
  readSeqno,
  request,
  u8,
  u16,
  u32,
  withStreamId,
  writeSeqno,
  writeU64,
} from './internal/wire.js';
import { encodePacket, type Packet } from './packet.js';

export interface DcpStreamReq {
  vbucket: number;
  opaque: number;
  /** DcpStreamReqFlag bits. */
  flags: number;
  /** Last seqno the client has (0 = from the start). */
  startSeqno: number;
  /** SEQNO_FOREVER (u64 all-ones) = no end. */
  endSeqno: number;
  /** Newest failover-log UUID the client knows (0n = no history). */
  vbucketUuid: bigint;
  snapStart: number;
  snapEnd: number;
  /** Optional JSON value (`sid`, `collections`, `uid`, ...). */
  value?: Buffer;
}

export function encodeDcpStreamReq(f: DcpStreamReq): Buffer {
  const e = Buffer.allocUnsafe(48);
  e.writeUInt32BE(u32('flags', f.flags), 0);
  e.writeUInt32BE(0, 4);
  writeSeqno(e, 8, f.startSeqno, 'startSeqno');
  writeSeqno(e, 16, f.endSeqno, 'endSeqno');
  writeU64(e, 24, f.vbucketUuid, 'vbucketUuid');
  writeSeqno(e, 32, f.snapStart, 'snapStart');
  writeSeqno(e, 40, f.snapEnd, 'snapEnd');
  return request(
    {
      opcode: Opcode.DcpStreamReq,
      vbucket: u16('vbucket', f.vbucket),
      opaque: f.opaque,
      extras: e,
      value: f.value,
    },
    undefined,
  );
}

export function decodeDcpStreamReq(p: Packet): DcpStreamReq {
  expectRequest(p, Opcode.DcpStreamReq, 'DCP_STREAM_REQ');
  const e = expectExtras(p, 48);
  const out: DcpStreamReq = {
    vbucket: p.vbucket,
    opaque: p.opaque,
    flags: e.readUInt32BE(0),
    startSeqno: readSeqno(e, 8, 'startSeqno'),
    endSeqno: readSeqno(e, 16, 'endSeqno'),
    vbucketUuid: e.readBigUInt64BE(24),
    snapStart: readSeqno(e, 32, 'snapStart'),
    snapEnd: readSeqno(e, 40, 'snapEnd'),
  };
  const v = bufOf(p.value);
  if (v.length > 0) out.value = v;
  return out;
}

/** STREAM_REQ reply: Success carries the failover log, Rollback the seqno to roll back to. */
export interface DcpStreamReqResponse {
  opaque: number;
  status: number;
  failoverLog?: FailoverLog;
  rollbackSeqno?: number;
}

export function encodeDcpStreamReqResponse(f: DcpStreamReqResponse): Buffer {
  let value: Buffer | undefined;
  if (f.status === Status.Success) value = encodeFailoverLog(f.failoverLog ?? []);
  else if (f.status === Status.Rollback) {
    value = Buffer.allocUnsafe(8);
    writeSeqno(value, 0, f.rollbackSeqno ?? 0, 'rollbackSeqno');
  }
  return encodePacket({
    magic: Magic.Response,
    opcode: Opcode.DcpStreamReq,
    status: u16('status', f.status),
    opaque: f.opaque,
    value,
  });
}

export function decodeDcpStreamReqResponse(p: Packet): DcpStreamReqResponse {
  expectResponse(p, Opcode.DcpStreamReq, 'DCP_STREAM_REQ');
  const status = p.status;
  const out: DcpStreamReqResponse = { opaque: p.opaque, status };
  if (status === Status.Success) out.failoverLog = decodeFailoverLog(bufOf(p.value));
  else if (status === Status.Rollback) {
    const v = bufOf(p.value);
    if (v.length !== 8) throw ErrBadValue(`rollback reply value of ${v.length} bytes, expected 8`);
    out.rollbackSeqno = readSeqno(v, 0, 'rollbackSeqno');
  }
  return out;
}

export interface DcpGetFailoverLog {
  vbucket: number;
  opaque: number;
}

export function encodeDcpGetFailoverLog(f: DcpGetFailoverLog): Buffer {
  return request(
    { opcode: Opcode.DcpGetFailoverLog, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque },
    undefined,
  );
}

export function decodeDcpGetFailoverLog(p: Packet): DcpGetFailoverLog {
  expectRequest(p, Opcode.DcpGetFailoverLog, 'DCP_GET_FAILOVER_LOG');
  expectExtras(p, 0);
  return { vbucket: p.vbucket, opaque: p.opaque };
}

export interface DcpGetFailoverLogResponse {
  opaque: number;
  status: number;
  /** Present on Success. */
  failoverLog?: FailoverLog;
}

export function encodeDcpGetFailoverLogResponse(f: DcpGetFailoverLogResponse): Buffer {
  return encodePacket({
    magic: Magic.Response,
    opcode: Opcode.DcpGetFailoverLog,
    status: u16('status', f.status),
    opaque: f.opaque,
    value: f.status === Status.Success ? encodeFailoverLog(f.failoverLog ?? []) : undefined,
  });
}

export function decodeDcpGetFailoverLogResponse(p: Packet): DcpGetFailoverLogResponse {
  expectResponse(p, Opcode.DcpGetFailoverLog, 'DCP_GET_FAILOVER_LOG');
  const out: DcpGetFailoverLogResponse = { opaque: p.opaque, status: p.status };
  if (p.status === Status.Success) out.failoverLog = decodeFailoverLog(bufOf(p.value));
  return out;
}

export interface DcpCloseStream {
  vbucket: number;
  opaque: number;
  /** Stream id (framing extras) when the connection enabled stream ids. */
  streamId?: number;
}

export function encodeDcpCloseStream(f: DcpCloseStream): Buffer {
  return request(
    { opcode: Opcode.DcpCloseStream, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque },
    f.streamId,
  );
}

export function decodeDcpCloseStream(p: Packet): DcpCloseStream {
  expectRequest(p, Opcode.DcpCloseStream, 'DCP_CLOSE_STREAM');
  expectExtras(p, 0);
  return withStreamId({ vbucket: p.vbucket, opaque: p.opaque }, p);
}

export interface DcpStreamEnd {
  vbucket: number;
  opaque: number;
  /** DcpStreamEndReason. */
  reason: number;
  streamId?: number;
}

export function encodeDcpStreamEnd(f: DcpStreamEnd): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(u32('reason', f.reason), 0);
  return request(
    { opcode: Opcode.DcpStreamEnd, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque, extras },
    f.streamId,
  );
}

export function decodeDcpStreamEnd(p: Packet): DcpStreamEnd {
  expectRequest(p, Opcode.DcpStreamEnd, 'DCP_STREAM_END');
  const e = expectExtras(p, 4);
  return withStreamId({ vbucket: p.vbucket, opaque: p.opaque, reason: e.readUInt32BE(0) }, p);
}

export interface DcpSetVbucketState {
  vbucket: number;
  opaque: number;
  /** VbucketState (1 active, 2 replica, 3 pending, 4 dead). */
  state: number;
  streamId?: number;
}

export function encodeDcpSetVbucketState(f: DcpSetVbucketState): Buffer {
  return request(
    {
      opcode: Opcode.DcpSetVbucketState,
      vbucket: u16('vbucket', f.vbucket),
      opaque: f.opaque,
      extras: Buffer.of(u8('state', f.state)),
    },
    f.streamId,
  );
}

export function decodeDcpSetVbucketState(p: Packet): DcpSetVbucketState {
  expectRequest(p, Opcode.DcpSetVbucketState, 'DCP_SET_VBUCKET_STATE');
  const e = expectExtras(p, 1);
  return withStreamId({ vbucket: p.vbucket, opaque: p.opaque, state: e[0] }, p);
}

export interface DcpSeqnoAdvanced {
  vbucket: number;
  opaque: number;
  bySeqno: number;
  streamId?: number;
}

export function encodeDcpSeqnoAdvanced(f: DcpSeqnoAdvanced): Buffer {
  const extras = Buffer.allocUnsafe(8);
  writeSeqno(extras, 0, f.bySeqno, 'bySeqno');
  return request(
    { opcode: Opcode.DcpSeqnoAdvanced, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque, extras },
    f.streamId,
  );
}

export function decodeDcpSeqnoAdvanced(p: Packet): DcpSeqnoAdvanced {
  expectRequest(p, Opcode.DcpSeqnoAdvanced, 'DCP_SEQNO_ADVANCED');
  const e = expectExtras(p, 8);
  return withStreamId({ vbucket: p.vbucket, opaque: p.opaque, bySeqno: readSeqno(e, 0, 'bySeqno') }, p);
}

export interface DcpOsoSnapshot {
  vbucket: number;
  opaque: number;
  /** DcpOsoSnapshotFlag: 0x01 start, 0x02 end. */
  flags: number;
  streamId?: number;
}

export function encodeDcpOsoSnapshot(f: DcpOsoSnapshot): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(u32('flags', f.flags), 0);
  return request(
    { opcode: Opcode.DcpOsoSnapshot, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque, extras },
    f.streamId,
  );
}

export function decodeDcpOsoSnapshot(p: Packet): DcpOsoSnapshot {
  expectRequest(p, Opcode.DcpOsoSnapshot, 'DCP_OSO_SNAPSHOT');
  const e = expectExtras(p, 4);
  return withStreamId({ vbucket: p.vbucket, opaque: p.opaque, flags: e.readUInt32BE(0) }, p);
}

export interface DcpSystemEvent {
  vbucket: number;
  opaque: number;
  bySeqno: number;
  /** DcpSystemEventId. */
  event: number;
  /** Payload version (0/1 binary, 2 FlatBuffers). */
  version: number;
  key: Buffer;
  value: Buffer;
  streamId?: number;
}

export function encodeDcpSystemEvent(f: DcpSystemEvent): Buffer {
  const extras = Buffer.allocUnsafe(13);
  writeSeqno(extras, 0, f.bySeqno, 'bySeqno');
  extras.writeUInt32BE(u32('event', f.event), 8);
  extras[12] = u8('version', f.version);
  return request(
    {
      opcode: Opcode.DcpSystemEvent,
      vbucket: u16('vbucket', f.vbucket),
      opaque: f.opaque,
      extras,
      key: bytes('key', f.key),
      value: bytes('value', f.value),
    },
    f.streamId,
  );
}

export function decodeDcpSystemEvent(p: Packet): DcpSystemEvent {
  expectRequest(p, Opcode.DcpSystemEvent, 'DCP_SYSTEM_EVENT');
  const e = expectExtras(p, 13);
  return withStreamId(
    {
      vbucket: p.vbucket,
      opaque: p.opaque,
      bySeqno: readSeqno(e, 0, 'bySeqno'),
      event: e.readUInt32BE(8),
      version: e[12],
      key: bufOf(p.key),
      value: bufOf(p.value),
    },
    p,
  );
}
