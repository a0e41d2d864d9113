// The client's resend ring and the frames written into it, against simple models (fast-check).
import { TransportFrameDecoder } from '@tributary/codec';
import { isTributaryError } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Mutation } from '../src/index.js';
import {
  CONTROL_FRAME_BYTES,
  decodeControl,
  decodeMutation,
  mutationFrameSize,
  readMutation,
  vbuuidWords,
  writeControlFrame,
  writeMutationFrame,
} from '../src/internal/mutation-wire.js';
import { ResendRing } from '../src/internal/resend-ring.js';

type Op = { op: 'put'; size: number } | { op: 'ack'; k: number } | { op: 'write' } | { op: 'rewind' };

describe('ResendRing', () => {
  it('keeps every unacknowledged frame whole, in order, within its capacity (model check)', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('put' as const), size: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ op: fc.constant('ack' as const), k: fc.integer({ min: 0, max: 8 }) }),
      fc.constant({ op: 'write' as const }),
      fc.constant({ op: 'rewind' as const }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 300, max: 1200 }),
        fc.integer({ min: 1, max: 16 }),
        fc.array(op, { maxLength: 200 }),
        (cap, maxMsgs, ops) => {
          const r = new ResendRing(cap, maxMsgs);
          // Model: the frames not acknowledged, oldest first; the first `sent` of them are written.
          const held: { msn: number; bytes: Buffer }[] = [];
          let sent = 0;
          let fill = 0;
          for (const o of ops) {
            if (o.op === 'put') {
              const phys = r.tail % cap;
              const need = phys + o.size > cap ? cap - phys + o.size : o.size;
              const full = held.length >= maxMsgs || r.bytes + need > cap;
              const off = r.reserve(o.size);
              expect(off < 0).toBe(full);
              if (off < 0) continue;
              expect(off + o.size).toBeLessThanOrEqual(cap); // a frame never wraps
              const bytes = Buffer.alloc(o.size, ++fill & 0xff);
              bytes.copy(r.buf, off);
              held.push({ msn: r.commit(o.size), bytes });
            } else if (o.op === 'ack') {
              const k = Math.min(sent, o.k); // only written frames can be acknowledged
              if (k === 0) continue;
              expect(r.ack((held[k - 1] as { msn: number }).msn)).toBe(k);
              held.splice(0, k);
              sent -= k;
            } else if (o.op === 'write') {
              const spans: Buffer[] = [];
              for (let b = r.nextUnsent(); b; b = r.nextUnsent()) spans.push(Buffer.from(b));
              // What goes out is exactly the unsent frames, in order, byte for byte (no padding).
              expect(Buffer.concat(spans)).toEqual(Buffer.concat(held.slice(sent).map((h) => h.bytes)));
              expect(spans.length).toBeLessThanOrEqual(2);
              sent = held.length;
            } else {
              r.rewind(); // a new connection: all held frames go again
              sent = 0;
            }
            expect(r.bytes).toBeLessThanOrEqual(cap);
            expect(r.messages).toBe(held.length);
          }
        },
      ),
      { numRuns: Number(process.env.RING_RUNS ?? 300) },
    );
  });

  it('a full ring refuses, an ack makes room again', () => {
    const r = new ResendRing(1000, 100);
    expect(r.reserve(600)).toBe(0);
    r.commit(600);
    expect(r.reserve(600)).toBe(-1);
    r.nextUnsent();
    expect(r.ack(1)).toBe(1);
    // 600 would not fit before the end (400 left): it pads and starts the lap at 0.
    expect(r.reserve(600)).toBe(0);
    r.commit(600);
    expect(r.nextUnsent()).toHaveLength(600);
    expect(r.bytes).toBe(1000);
  });
});

const mutation: fc.Arbitrary<Mutation> = fc.record({
  vbucket: fc.integer({ min: 0, max: 0xffff }),
  seqno: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  vbuuid: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  key: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  value: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  kind: fc.constantFrom('mutation' as const, 'deletion' as const, 'expiration' as const),
  cas: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  flags: fc.integer({ min: 0, max: 0xffffffff }),
  expiry: fc.integer({ min: 0, max: 0xffffffff }),
});

describe('mutation frames written into the ring', () => {
  it('decode to what was written, through the streaming frame decoder split anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(mutation, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.integer({ min: 1, max: 97 }),
        (items, step) => {
          const size = items.reduce((n, [m]) => n + mutationFrameSize(m), 0) + CONTROL_FRAME_BYTES;
          const b = Buffer.alloc(size);
          const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
          let o = 0;
          items.forEach(([m, prev], i) => {
            o += writeMutationFrame(b, v, o, i + 1, prev, m);
          });
          const c = { msn: 99, vbucket: 3, op: 2, vbuuid: items[0]![0].vbuuid, a: 5, b: 6, flags: 7 };
          o += writeControlFrame(b, v, o, c);
          expect(o).toBe(size);
          const dec = new TransportFrameDecoder();
          const payloads: Buffer[] = [];
          for (let i = 0; i < b.length; i += step)
            for (const f of dec.push(b.subarray(i, i + step))) {
              expect(f.kind).toBe(1); // post
              payloads.push(Buffer.from(f.payload));
            }
          expect(payloads).toHaveLength(items.length + 1);
          items.forEach(([m, prev], i) => {
            const p = payloads[i] as Buffer;
            const scratch = { msn: 0, prevSeqno: 0 };
            const known = { vbuuid: m.vbuuid, ...vbuuidWords(m.vbuuid) };
            const got = readMutation(p, scratch, i % 2 ? known : undefined);
            expect(scratch).toEqual({ msn: i + 1, prevSeqno: prev });
            expect(got).toEqual(m);
            // The old decoder reads the same bytes the same way.
            expect(decodeMutation(p)).toEqual({ msn: i + 1, prevSeqno: prev, m: { ...m } });
          });
          expect(decodeControl(payloads[items.length] as Buffer)).toEqual(c);
        },
      ),
    );
  });

  it('readMutation on any bytes returns or throws TRIB_BAD_FRAME, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          readMutation(Buffer.from(bytes), { msn: 0, prevSeqno: 0 }, undefined);
        } catch (err) {
          expect(isTributaryError(err, 'TRIB_BAD_FRAME')).toBe(true);
        }
      }),
    );
  });
});
