import {
  DEFAULT_MAX_FRAME_BYTES,
  ErrBadMagic,
  ErrFrameTooLarge,
  ErrTruncatedFrame,
  encodePacket,
  FrameDecoder,
  Magic,
  Opcode,
} from '@tributary/codec';
import { isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { mutation } from './samples.js';

describe('FrameDecoder', () => {
  it('returns many packets from one chunk, in order', () => {
    const frames = Array.from({ length: 50 }, (_, i) => mutation(i, i * 3));
    const out = new FrameDecoder().push(Buffer.concat(frames));
    expect(out.map((p) => p.opaque)).toEqual(frames.map((_, i) => i));
    expect(out.every((p, i) => p.frame.equals(frames[i]))).toBe(true);
  });

  it('reassembles packets split at every byte boundary', () => {
    const stream = Buffer.concat([mutation(1, 10), mutation(2, 0), mutation(3, 300)]);
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(got.map((p) => p.opaque)).toEqual([1, 2, 3]);
      expect(d.bufferedBytes).toBe(0);
    }
  });

  it('handles one byte at a time and empty chunks', () => {
    const stream = Buffer.concat([mutation(7, 100), mutation(8, 5000)]);
    const d = new FrameDecoder();
    const got = [];
    for (let i = 0; i < stream.length; i++) {
      got.push(...d.push(Buffer.alloc(0)));
      got.push(...d.push(stream.subarray(i, i + 1)));
      expect(d.bufferedBytes).toBeLessThanOrEqual(5000 + 100);
    }
    expect(got.map((p) => p.value.length)).toEqual([100, 5000]);
    expect(got[1].value.every((b) => b === 8)).toBe(true);
  });

  it('accepts plain Uint8Array chunks', () => {
    const f = mutation(3, 3);
    const u = new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.length));
    expect(new FrameDecoder().push(u)).toHaveLength(1);
  });

  it('enforces maxFrameBytes as soon as the header is known, default 20 MiB + 24', () => {
    expect(new FrameDecoder().maxFrameBytes).toBe(20 * 1024 * 1024 + 24);
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(20 * 1024 * 1024 + 24);
    const big = Buffer.alloc(24);
    big[0] = Magic.Request;
    big[1] = Opcode.Set + 0x40; // unchecked opcode
    big.writeUInt32BE(20 * 1024 * 1024 + 1, 8);
    const d = new FrameDecoder();
    let err: unknown;
    try {
      d.push(big.subarray(0, 12));
      d.push(big.subarray(12));
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, ErrFrameTooLarge.code)).toBe(true);
    // A failed decoder keeps failing.
    expect(() => d.push(mutation(1, 1))).toThrow(/exceeds the limit/);
    const small = new FrameDecoder({ maxFrameBytes: 100 });
    expect(() => small.push(mutation(1, 200))).toThrowError(
      expect.objectContaining({ code: 'TRIB_FRAME_TOO_LARGE' }),
    );
    expect(() => new FrameDecoder({ maxFrameBytes: 3 })).toThrow();
    // the smallest limit is a bare header (24 bytes): a packet with no body
    const bare = new FrameDecoder({ maxFrameBytes: 24 });
    expect(bare.push(encodePacket({ magic: Magic.Request, opcode: Opcode.Noop }))).toHaveLength(1);
    expect(() => new FrameDecoder({ maxFrameBytes: 23 })).toThrow(/maxFrameBytes/);
  });

  it('buffers at most one frame plus one chunk, even from many tiny chunks', () => {
    const f = mutation(1, 256 * 1024);
    const d = new FrameDecoder();
    const chunk = 7;
    let max = 0;
    let n = 0;
    for (let i = 0; i < f.length; i += chunk) {
      n += d.push(f.subarray(i, i + chunk)).length;
      max = Math.max(max, d.bufferedBytes);
    }
    expect(n).toBe(1);
    expect(max).toBeLessThan(f.length);
    expect(d.bufferedBytes).toBe(0);
  });

  it('fails with TRIB_BAD_MAGIC mid-stream after delivering earlier packets', () => {
    const d = new FrameDecoder();
    expect(d.push(mutation(1, 1))).toHaveLength(1);
    // (the bad header arrives in two pieces: the first is held until the header is whole)
    expect(d.push(Buffer.alloc(10, 0x42))).toHaveLength(0);
    expect(() => d.push(Buffer.alloc(20, 0x42))).toThrowError(
      expect.objectContaining({ code: ErrBadMagic.code }),
    );
    expect(d.failed).toBe(true);
    // a failed decoder drops what it held, and end() reports the failure too
    expect(d.bufferedBytes).toBe(0);
    expect(() => d.end()).toThrowError(expect.objectContaining({ code: ErrBadMagic.code }));
    d.reset();
    expect(d.push(mutation(2, 2))).toHaveLength(1);
  });

  it('end() reports a truncated trailing frame', () => {
    const d = new FrameDecoder();
    d.push(encodePacket({ magic: Magic.Request, opcode: 0, key: 'abc' }).subarray(0, 20));
    expect(() => d.end()).toThrowError(expect.objectContaining({ code: ErrTruncatedFrame.code }));
    expect(d.bufferedBytes).toBe(0);
    d.end();
    // the message names what was missing: the header, or the whole frame once its header is known
    d.push(encodePacket({ magic: Magic.Request, opcode: 0, key: 'abc' }).subarray(0, 20));
    expect(() => d.end()).toThrow('frame needs 24 bytes, got 20');
    d.push(encodePacket({ magic: Magic.Request, opcode: 0, key: 'abc' }).subarray(0, 25));
    expect(() => d.end()).toThrow('frame needs 27 bytes, got 25');
  });
});
