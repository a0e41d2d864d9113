// DCP connection setup: OPEN, CONTROL, NOOP, BUFFER_ACKNOWLEDGEMENT.
import { Opcode } from './constants.js';
import { bufOf, bytes, expectExtras, expectRequest, request, text, u32 } from './internal/wire.js';
import type { Packet } from './packet.js';

export interface DcpOpen {
  opaque: number;
  /** Connection name (≤ 200 bytes by convention `service:unique`). */
  name: string;
  /** DcpOpenFlag bits. */
  flags: number;
  /** Optional JSON value, e.g. `{"consumer_name":…}`. */
  value?: Buffer;
}

export function encodeDcpOpen(f: DcpOpen): Buffer {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(u32('flags', f.flags), 4);
  return request(
    { opcode: Opcode.DcpOpen, opaque: f.opaque, extras, key: bytes('name', f.name), value: f.value },
    undefined,
  );
}

export function decodeDcpOpen(p: Packet): DcpOpen {
  expectRequest(p, Opcode.DcpOpen, 'DCP_OPEN');
  const e = expectExtras(p, 8);
  const out: DcpOpen = { opaque: p.opaque, name: text(bufOf(p.key)), flags: e.readUInt32BE(4) };
  const v = bufOf(p.value);
  if (v.length > 0) out.value = v;
  return out;
}

export interface DcpControl {
  opaque: number;
  key: string;
  value: string;
}

export function encodeDcpControl(f: DcpControl): Buffer {
  return request(
    { opcode: Opcode.DcpControl, opaque: f.opaque, key: bytes('key', f.key), value: bytes('value', f.value) },
    undefined,
  );
}

export function decodeDcpControl(p: Packet): DcpControl {
  expectRequest(p, Opcode.DcpControl, 'DCP_CONTROL');
  expectExtras(p, 0);
  return { opaque: p.opaque, key: text(bufOf(p.key)), value: text(bufOf(p.value)) };
}

export interface DcpNoop {
  opaque: number;
}

export function encodeDcpNoop(f: DcpNoop): Buffer {
  return request({ opcode: Opcode.DcpNoop, opaque: f.opaque }, undefined);
}

export function decodeDcpNoop(p: Packet): DcpNoop {
  expectRequest(p, Opcode.DcpNoop, 'DCP_NOOP');
  expectExtras(p, 0);
  return { opaque: p.opaque };
}

export interface DcpBufferAck {
  opaque: number;
  /** Bytes processed since the last acknowledgement. */
  bytes: number;
}

export function encodeDcpBufferAck(f: DcpBufferAck): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(u32('bytes', f.bytes), 0);
  return request({ opcode: Opcode.DcpBufferAcknowledgement, opaque: f.opaque, extras }, undefined);
}

export function decodeDcpBufferAck(p: Packet): DcpBufferAck {
  expectRequest(p, Opcode.DcpBufferAcknowledgement, 'DCP_BUFFER_ACKNOWLEDGEMENT');
  const e = expectExtras(p, 4);
  return { opaque: p.opaque, bytes: e.readUInt32BE(0) };
}
