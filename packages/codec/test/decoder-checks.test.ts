// Checks in the DCP decoders that a well-formed stream never reaches: each case here is a packet
// a broken or hostile peer could send, and must fail with a typed error, not decode to something.
import {
  decodeDcpCloseStream,
  decodeDcpGetFailoverLog,
  decodeDcpMutation,
  decodeDcpSnapshotMarker,
  decodeDcpStreamReqResponse,
  encodeDcpSnapshotMarker,
  encodeFrameInfos,
  encodePacket,
  encodeStreamIdFrame,
  Magic,
  Opcode,
  parseFrameInfos,
  Status,
  streamIdOf,
  WirePacket,
} from '@tributary/codec';
import { isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { mutation } from './samples.js';

const typed = (f: () => unknown, pattern?: RegExp) => {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(isTributaryError(err)).toBe(true);
  if (pattern) expect(String((err as Error).message)).toMatch(pattern);
};

/** The packet as read off the wire (the decoders' fast paths read these). */
const wire = (bytes: Buffer) => new WirePacket(bytes, 0);

describe('DCP decoder checks', () => {
  it('a mutation decoder refuses another opcode or another extras length, read off the wire too', () => {
    const one = mutation(3, 5);
    expect(decodeDcpMutation(wire(one)).bySeqno).toBe(4);
    // (the encoders refuse these, so the bytes are patched: byte 1 is the opcode, byte 4 the extras length)
    const deletion = Buffer.from(one);
    deletion[1] = Opcode.DcpDeletion;
    typed(() => decodeDcpMutation(wire(deletion)), /DCP_MUTATION/);
    const short = Buffer.from(one);
    short[4] = 30;
    typed(() => decodeDcpMutation(wire(short)));
  });

  it('a snapshot marker of version byte 1 (v2.1) or an unknown one is refused', () => {
    const v22 = encodeDcpSnapshotMarker({
      vbucket: 1,
      opaque: 2,
      startSeqno: 1,
      endSeqno: 9,
      flags: 1,
      version: 2,
      maxVisibleSeqno: 9,
      highCompletedSeqno: 0,
      purgeSeqno: 0,
    });
    expect(decodeDcpSnapshotMarker(wire(v22)).endSeqno).toBe(9);
    // (no framing extras: the one extras byte, the version, follows the 24-byte header)
    const withVersion = (ver: number) => {
      const b = Buffer.from(v22);
      b[24] = ver;
      return wire(b);
    };
    typed(() => decodeDcpSnapshotMarker(withVersion(1)), /v2\.1/);
    typed(() => decodeDcpSnapshotMarker(withVersion(3)), /unknown snapshot marker version/);
  });

  it('a stream request rollback reply must carry exactly one seqno', () => {
    const reply = (value: Buffer) =>
      wire(
        encodePacket({ magic: Magic.Response, opcode: Opcode.DcpStreamReq, status: Status.Rollback, value }),
      );
    const eight = Buffer.alloc(8);
    eight.writeBigUInt64BE(42n);
    expect(decodeDcpStreamReqResponse(reply(eight)).rollbackSeqno).toBe(42);
    typed(() => decodeDcpStreamReqResponse(reply(Buffer.concat([eight, Buffer.alloc(4)]))), /rollback reply/);
    typed(() => decodeDcpStreamReqResponse(reply(Buffer.alloc(4))), /rollback reply/);
  });

  it('failover-log and close-stream requests carry no extras', () => {
    for (const [opcode, decode] of [
      [Opcode.DcpGetFailoverLog, decodeDcpGetFailoverLog],
      [Opcode.DcpCloseStream, decodeDcpCloseStream],
    ] as const) {
      expect(decode(wire(encodePacket({ magic: Magic.Request, opcode, vbucket: 3 }))).vbucket).toBe(3);
      typed(() =>
        decode(wire(encodePacket({ magic: Magic.Request, opcode, vbucket: 3, extras: Buffer.alloc(4) }))),
      );
    }
  });

  it('frame infos: escapes cut off at the end are named; the highest id and length round-trip', () => {
    typed(() => parseFrameInfos(Buffer.from([0xf0])), /escaped frame-info id/);
    typed(() => parseFrameInfos(Buffer.from([0x0f])), /escaped frame-info length/);
    // ids and lengths of 15 and up take an escape byte; 15 + 255 is the highest id (a length that
    // high would not fit the 255 bytes of framing extras)
    for (const [id, len] of [
      [15, 15],
      [14, 14],
      [15 + 255, 200],
    ]) {
      const data = Buffer.alloc(len!, 7);
      const [got, ...rest] = parseFrameInfos(encodeFrameInfos([{ id: id!, data }]));
      expect([got!.id, got!.data, rest]).toEqual([id, data, []]);
    }
    expect(encodeFrameInfos([{ id: 15, data: Buffer.alloc(15) }]).subarray(0, 3)).toEqual(
      Buffer.from([0xff, 0, 0]),
    );
    for (const id of [15 + 256, -1, 1.5]) expect(() => encodeFrameInfos([{ id }])).toThrow(/out of range/);
    expect(() => encodeFrameInfos([{ id: 1, data: Buffer.alloc(15 + 256) }])).toThrow(/too long/);
    // framing extras hold 255 bytes at most (one byte of id and length, one escape, 253 of data)
    expect(encodeFrameInfos([{ id: 1, data: Buffer.alloc(253) }])).toHaveLength(255);
    expect(() => encodeFrameInfos([{ id: 1, data: Buffer.alloc(254) }])).toThrow(/255 bytes/);
  });

  it('stream ids: only a u16 is encoded, and only a stream-id frame info is read as one', () => {
    expect(streamIdOf(encodeStreamIdFrame(0xffff))).toBe(0xffff);
    for (const bad of [-1, 1.5, 0x10000]) expect(() => encodeStreamIdFrame(bad)).toThrow(/u16/);
    // three bytes of another frame info (id 1, two bytes) carry no stream id
    expect(streamIdOf(Buffer.from([0x12, 0, 5]))).toBeUndefined();
    expect(streamIdOf(Buffer.from([0x12, 0, 5, 0x22, 0, 9]))).toBe(9);
  });
});
