import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeClockUpdates,
  encodeClockUpdates,
  mergeUpdates,
  splitState,
  withStateFields,
} from '../src/internal/clock-log.js';
import { decodeClock, encodeClock } from '../src/internal/keys.js';
import { Lru } from '../src/internal/lru.js';
import {
  addRollback,
  decodeRollbacks,
  encodeRollbacks,
  MAX_ROLLBACK_RECORDS,
  rewindSince,
} from '../src/internal/rollback-history.js';

const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const pairs = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1023 }), seq), { maxLength: 20 })
  .map((p) => new Map(p));
const updatesArb = fc
  .array(
    fc.tuple(
      // (ASCII names and any others: both encodings' paths)
      fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      ),
      pairs,
    ),
    { maxLength: 10 },
  )
  .map((list) => new Map(list));

describe('clock records, state record and rollback history', () => {
  it('clock records round-trip, and a truncated one is refused', () => {
    fc.assert(
      fc.property(updatesArb, (u) => {
        const bytes = encodeClockUpdates(u);
        expect(decodeClockUpdates(bytes)).toEqual(u);
        if (bytes.length > 1) expect(() => decodeClockUpdates(bytes.subarray(0, bytes.length - 1))).toThrow();
      }),
    );
  });

  it('merging records is a per-vbucket max, in any order', () => {
    fc.assert(
      fc.property(updatesArb, updatesArb, (a, b) => {
        const ab = new Map();
        mergeUpdates(ab, a);
        mergeUpdates(ab, b);
        const ba = new Map();
        mergeUpdates(ba, b);
        mergeUpdates(ba, a);
        expect(ab).toEqual(ba);
        for (const [ch, p] of a)
          for (const [vb, s] of p) expect(ab.get(ch).get(vb)).toBeGreaterThanOrEqual(s);
      }),
    );
  });

  it('the state record keeps the stable clock apart from its fields', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        pairs,
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 1, max: 65536 }),
        (counter, stable, ck, epoch, bs, vpb) => {
          const d = decodeClock(encodeClock(counter, withStateFields(stable, ck, epoch, bs, vpb)));
          expect(splitState(d.counter, d.clock)).toEqual({
            counter,
            stable,
            checkpoint: ck,
            epoch,
            blockSize: bs,
            vbucketsPerBlock: vpb,
          });
        },
      ),
    );
  });

  it('rollback history round-trips; rewinding only lowers vbuckets rolled back after the epoch', () => {
    const rec = fc.record({
      epoch: fc.integer({ min: 1, max: 50 }),
      vb: fc.integer({ min: 0, max: 7 }),
      replayFrom: fc.nat(100),
    });
    fc.assert(
      fc.property(fc.array(rec, { maxLength: 30 }), pairs, fc.nat(60), (records, since, epoch) => {
        let h = { floor: 0, records: [] as typeof records };
        for (const r of records) h = addRollback(h, r);
        expect(decodeRollbacks(encodeRollbacks(h))).toEqual(h);
        const { clock, changed } = rewindSince(since, epoch, h);
        for (const [vb, s] of since) {
          const after = records.filter((r) => r.epoch > epoch && r.vb === vb);
          const want = Math.min(s, ...after.map((r) => r.replayFrom));
          expect(clock.get(vb) ?? 0).toBe(want);
        }
        expect([...clock.keys()].every((vb) => since.has(vb))).toBe(true);
        expect(changed).toBe([...since].some(([vb, s]) => (clock.get(vb) ?? 0) !== s));
      }),
    );
    // a rollback to the very start drops the vbucket from the position
    const toStart = { floor: 0, records: [{ epoch: 1, vb: 3, replayFrom: 0 }] };
    expect(rewindSince(new Map([[3, 9]]), 0, toStart)).toEqual({ clock: new Map(), changed: true });
    // no record yet (an index that never rolled back) reads as an empty history
    expect(decodeRollbacks(undefined)).toEqual({ floor: 0, records: [] });
    expect(decodeRollbacks(new Uint8Array(0))).toEqual({ floor: 0, records: [] });
  });

  it('a history past its bound raises the floor: older positions restart from the beginning', () => {
    let h = { floor: 0, records: [] as { epoch: number; vb: number; replayFrom: number }[] };
    for (let e = 1; e <= MAX_ROLLBACK_RECORDS + 2; e++)
      h = addRollback(h, { epoch: e, vb: 0, replayFrom: 5 });
    expect(h.records.length).toBe(MAX_ROLLBACK_RECORDS);
    expect(h.floor).toBe(2);
    expect(rewindSince(new Map([[3, 9]]), 1, h)).toEqual({ clock: new Map(), changed: true });
    // (a position at the beginning already has nowhere to restart from)
    expect(rewindSince(new Map(), 1, h)).toEqual({ clock: new Map(), changed: false });
    expect(rewindSince(new Map([[3, 9]]), 2, h).clock).toEqual(new Map([[3, 9]]));
  });

  it('the cache keeps what was used within the last half of its capacity and counts evictions', () => {
    const c = new Lru<number, number>(4);
    c.set(0, 0);
    c.set(1, 1); // the young half is full: it becomes the old one
    expect(c.evictions).toBe(0);
    expect(c.get(0)).toBe(0); // used: back in the young half
    c.set(2, 2); // full again: the old half ({1}) goes
    expect(c.has(0)).toBe(true);
    expect(c.has(2)).toBe(true);
    expect(c.has(1)).toBe(false);
    expect(c.evictions).toBe(1);
    fc.assert(
      fc.property(fc.array(fc.nat(20), { maxLength: 200 }), (keys) => {
        const l = new Lru<number, number>(8);
        for (const k of keys) {
          l.set(k, k * 2);
          expect(l.get(k)).toBe(k * 2);
          expect(l.size).toBeLessThanOrEqual(8);
        }
      }),
    );
  });
});
