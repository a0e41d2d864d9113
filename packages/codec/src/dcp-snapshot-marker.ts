// DCP_SNAPSHOT_MARKER (0x56): v1 (20-byte extras) and v2.x (1-byte version extras + value).
import { Opcode } from './constants.js';
import { ErrBadFrame, ErrBadValue, ErrEncode } from './errors.js';
import {
  bufOf,
  expectExtras,
  expectRequest,
  readSeqno,
  request,
  u16,
  u32,
  withStreamId,
  writeSeqno,
} from './internal/wire.js';
import type { Packet } from './packet.js';

export interface DcpSnapshotMarker {
  vbucket: number;
  opaque: number;
  startSeqno: number;
  endSeqno: number;
  /** DcpSnapshotFlag bits. */
  flags: number;
  /** 1 = 20-byte extras; 2 = v2.0 (version byte 0, 36-byte value) or v2.2 (byte 2, with purgeSeqno). */
  version: 1 | 2;
  maxVisibleSeqno?: number;
  highCompletedSeqno?: number;
  /** v2.2 only. */
  purgeSeqno?: number;
  /** v2.2 only (present when the value is 52 bytes). */
  highPreparedSeqno?: number;
  streamId?: number;
}

export function encodeDcpSnapshotMarker(f: DcpSnapshotMarker): Buffer {
  let extras: Buffer;
  let value: Buffer | undefined;
  if (f.version === 1) {
    extras = Buffer.allocUnsafe(20);
    writeSeqno(extras, 0, f.startSeqno, 'startSeqno');
    writeSeqno(extras, 8, f.endSeqno, 'endSeqno');
    extras.writeUInt32BE(u32('flags', f.flags), 16);
  } else if (f.version === 2) {
    const v22 = f.purgeSeqno !== undefined || f.highPreparedSeqno !== undefined;
    extras = Buffer.of(v22 ? 2 : 0);
    value = Buffer.allocUnsafe(v22 ? (f.highPreparedSeqno !== undefined ? 52 : 44) : 36);
    writeSeqno(value, 0, f.startSeqno, 'startSeqno');
    writeSeqno(value, 8, f.endSeqno, 'endSeqno');
    value.writeUInt32BE(u32('flags', f.flags), 16);
    writeSeqno(value, 20, f.maxVisibleSeqno ?? 0, 'maxVisibleSeqno');
    writeSeqno(value, 28, f.highCompletedSeqno ?? 0, 'highCompletedSeqno');
    if (v22) writeSeqno(value, 36, f.purgeSeqno ?? 0, 'purgeSeqno');
    if (f.highPreparedSeqno !== undefined) writeSeqno(value, 44, f.highPreparedSeqno, 'highPreparedSeqno');
  } else {
    throw ErrEncode(`snapshot marker version ${String(f.version)} (expected 1 or 2)`);
  }
  return request(
    { opcode: Opcode.DcpSnapshotMarker, vbucket: u16('vbucket', f.vbucket), opaque: f.opaque, extras, value },
    f.streamId,
  );
}

export function decodeDcpSnapshotMarker(p: Packet): DcpSnapshotMarker {
  expectRequest(p, Opcode.DcpSnapshotMarker, 'DCP_SNAPSHOT_MARKER');
  const e = expectExtras(p, 20, 1);
  if (e.length === 20) {
    return withStreamId(
      {
        vbucket: p.vbucket,
        opaque: p.opaque,
        startSeqno: readSeqno(e, 0, 'startSeqno'),
        endSeqno: readSeqno(e, 8, 'endSeqno'),
        flags: e.readUInt32BE(16),
        version: 1 as const,
      },
      p,
    );
  }
  const ver = e[0];
  const v = bufOf(p.value);
  if (ver === 1) throw ErrBadFrame('snapshot marker v2.1 is no longer supported');
  if (ver !== 0 && ver !== 2) throw ErrBadFrame(`unknown snapshot marker version byte ${ver}`);
  const ok = ver === 0 ? v.length === 36 : v.length === 44 || v.length === 52;
  if (!ok) throw ErrBadValue(`snapshot marker v2 (byte ${ver}) value of ${v.length} bytes`);
  const out: DcpSnapshotMarker = {
    vbucket: p.vbucket,
    opaque: p.opaque,
    startSeqno: readSeqno(v, 0, 'startSeqno'),
    endSeqno: readSeqno(v, 8, 'endSeqno'),
    flags: v.readUInt32BE(16),
    version: 2,
    maxVisibleSeqno: readSeqno(v, 20, 'maxVisibleSeqno'),
    highCompletedSeqno: readSeqno(v, 28, 'highCompletedSeqno'),
  };
  if (ver === 2) out.purgeSeqno = readSeqno(v, 36, 'purgeSeqno');
  if (v.length === 52) out.highPreparedSeqno = readSeqno(v, 44, 'highPreparedSeqno');
  return withStreamId(out, p);
}
