import { isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TRANSPORT_MAX_FRAME_BYTES,
  decodeTransportFrame,
  encodeTransportFrame,
  FrameFlag,
  FrameKind,
  TRANSPORT_FRAME_VERSION,
  TRANSPORT_HEADER_BYTES,
  TRANSPORT_MAGIC,
  TransportFrameDecoder,
  transportFrameSize,
  writeTransportFrame,
} from '../src/index.js';

const kinds = Object.values(FrameKind);
const frameArb = fc.record({
  kind: fc.constantFrom(...kinds),
  flags: fc.integer({ min: 0, max: 7 }),
  messageId: fc.integer({ min: 0, max: 0xffffffff }),
  opaque: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

/** Splits `buf` at the given cut points (sorted, deduplicated, inside the buffer). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  out.push(buf.subarray(last));
  return out;
}

describe('transport frame: layout', () => {
  it('writes the 16-byte header byte by byte as TRANSPORT-PROTOCOL.md says', () => {
    const f = encodeTransportFrame({
      kind: FrameKind.StreamData,
      flags: FrameFlag.Initiator,
      messageId: 0x01020304,
      opaque: 0xa0b0c0d0,
      payload: Buffer.from('hi'),
    });
    expect([...f]).toEqual([
      TRANSPORT_MAGIC,
      TRANSPORT_FRAME_VERSION,
      5,
      1,
      1,
      2,
      3,
      4,
      0xa0,
      0xb0,
      0xc0,
      0xd0,
      0,
      0,
      0,
      2,
      0x68,
      0x69,
    ]);
    expect(TRANSPORT_HEADER_BYTES).toBe(16);
    expect(transportFrameSize(2)).toBe(18);
  });

  it('writeTransportFrame matches encodeTransportFrame and returns the next offset', () => {
    const target = Buffer.alloc(64);
    const end = writeTransportFrame(target, 3, FrameKind.Post, 0, 7, 0, Buffer.from('abc'));
    expect(end).toBe(3 + 16 + 3);
    expect(target.subarray(3, end)).toEqual(
      encodeTransportFrame({ kind: FrameKind.Post, messageId: 7, payload: Buffer.from('abc') }),
    );
  });
});

describe('transport frame: round trips (fast-check)', () => {
  it('decodeTransportFrame(encodeTransportFrame(f)) == f', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const d = decodeTransportFrame(encodeTransportFrame(f));
        expect(d.kind).toBe(f.kind);
        expect(d.flags).toBe(f.flags);
        expect(d.messageId).toBe(f.messageId);
        expect(d.opaque).toBe(f.opaque);
        expect(Buffer.compare(d.payload, f.payload)).toBe(0);
      }),
    );
  });

  it('the streaming decoder yields the same frames however the bytes are chunked', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map((f) => encodeTransportFrame(f)));
          const dec = new TransportFrameDecoder();
          const got = split(bytes, cuts).flatMap((c) => dec.push(c));
          expect(got.length).toBe(frames.length);
          got.forEach((g, i) => {
            const f = frames[i] as (typeof frames)[number];
            expect([g.kind, g.flags, g.messageId, g.opaque]).toEqual([
              f.kind,
              f.flags,
              f.messageId,
              f.opaque,
            ]);
            expect(Buffer.compare(g.payload, f.payload)).toBe(0);
          });
          expect(dec.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it('feed() calls back per frame with views (no copy when a frame sits in one chunk)', () => {
    const a = encodeTransportFrame({ kind: FrameKind.Post, messageId: 1, payload: Buffer.from('xyz') });
    const dec = new TransportFrameDecoder();
    const seen: Buffer[] = [];
    dec.feed(a, (_k, _f, _m, _o, p) => seen.push(p));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.buffer).toBe(a.buffer);
  });
});

describe('transport frame: limits and errors', () => {
  it('rejects bad magic, version, kind, reserved flags and oversize frames with codec errors', () => {
    const good = encodeTransportFrame({ kind: FrameKind.Post, messageId: 1, payload: Buffer.from('p') });
    const mutate = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    const code = (b: Buffer, max?: number) => {
      try {
        new TransportFrameDecoder({ maxFrameBytes: max }).push(b);
        return 'none';
      } catch (err) {
        expect(isTributaryError(err)).toBe(true);
        return (err as { code: string }).code;
      }
    };
    expect(code(mutate(0, 0x80))).toBe('TRIB_BAD_MAGIC');
    expect(code(mutate(1, 2))).toBe('TRIB_BAD_FRAME');
    expect(code(mutate(2, 0))).toBe('TRIB_BAD_FRAME');
    expect(code(mutate(2, 10))).toBe('TRIB_BAD_FRAME');
    expect(code(mutate(3, 0x08))).toBe('TRIB_BAD_FRAME');
    expect(code(good, 0)).toBe('TRIB_FRAME_TOO_LARGE');
    // Too large is detected from the header alone, before the payload arrives.
    const huge = Buffer.from(good.subarray(0, 16));
    huge.writeUInt32BE(DEFAULT_TRANSPORT_MAX_FRAME_BYTES + 1, 12);
    expect(code(huge)).toBe('TRIB_FRAME_TOO_LARGE');
    expect(() =>
      encodeTransportFrame({ kind: FrameKind.Post, payload: Buffer.alloc(10) }, { maxFrameBytes: 5 }),
    ).toThrow(/exceeds/);
    expect(() => encodeTransportFrame({ kind: 42 as never })).toThrow(/kind/);
    expect(() => encodeTransportFrame({ kind: FrameKind.Post, opaque: -1 })).toThrow(/u32/);
    expect(() => decodeTransportFrame(good.subarray(0, 10))).toThrow(/header/);
    expect(() => decodeTransportFrame(Buffer.concat([good, Buffer.from('x')]))).toThrow(/length/);
  });

  it('stays failed after a framing error (the connection must be closed)', () => {
    const dec = new TransportFrameDecoder();
    expect(() => dec.push(Buffer.alloc(16, 0xff))).toThrow();
    const good = encodeTransportFrame({ kind: FrameKind.Heartbeat });
    expect(() => dec.push(good)).toThrow(/magic/);
  });

  it('fuzz: random bytes either decode or throw a TributaryError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, prefixValid) => {
        const dec = new TransportFrameDecoder({ maxFrameBytes: 1024 });
        const input = prefixValid
          ? Buffer.concat([
              encodeTransportFrame({ kind: FrameKind.Post, payload: Buffer.from('ok') }),
              Buffer.from(bytes),
            ])
          : Buffer.from(bytes);
        try {
          const frames = dec.push(input);
          for (const f of frames) expect(f.payload.length).toBeLessThanOrEqual(1024);
        } catch (err) {
          expect(isTributaryError(err)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: flipping one byte of a valid stream never crashes the decoder', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (frames, pos, x) => {
          const bytes = Buffer.concat(frames.map((f) => encodeTransportFrame(f)));
          const i = pos % bytes.length;
          bytes[i] = (bytes[i] as number) ^ x;
          try {
            new TransportFrameDecoder().push(bytes);
          } catch (err) {
            expect(isTributaryError(err)).toBe(true);
          }
        },
      ),
    );
  });
});
