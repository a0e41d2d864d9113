import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChannelClock, hasReadableAbove } from '../src/internal/channel-clock.js';
import { decodeClockUpdates, encodeClockPairs } from '../src/internal/clock-log.js';
import { decodeClock, encodeClock } from '../src/internal/keys.js';

const vbArb = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 0xffff }));
const seqArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const opArb = fc.oneof(
  fc.tuple(fc.constant('set' as const), vbArb, seqArb),
  fc.tuple(fc.constant('delete' as const), vbArb, fc.constant(0)),
);

describe('ChannelClock', () => {
  it('reads as a Map would after any sets and deletes, across the switch from Map to array', () => {
    fc.assert(
      // (size 'max': fast-check's default small sizes seldom pass the 32 vbuckets that switch to the array)
      fc.property(
        fc.array(opArb, { maxLength: 200, size: 'max' }),
        fc.array(vbArb, { maxLength: 20 }),
        (ops, probes) => {
          const clock = new ChannelClock();
          const model = new Map<number, number>();
          for (const [op, vb, seq] of ops) {
            if (op === 'set') {
              expect(clock.set(vb, seq)).toBe(clock);
              model.set(vb, seq);
            } else expect(clock.delete(vb)).toBe(model.delete(vb));
            expect(clock.size).toBe(model.size);
          }
          for (const vb of probes) {
            expect(clock.get(vb)).toBe(model.get(vb));
            expect(clock.has(vb)).toBe(model.has(vb));
          }
          // (order differs once in an array: vbucket order there)
          const sorted = [...model].sort((a, b) => a[0] - b[0]);
          expect([...clock].sort((a, b) => a[0] - b[0])).toEqual(sorted);
          expect([...clock.keys()].sort((a, b) => a - b)).toEqual(sorted.map(([vb]) => vb));
          expect([...clock.values()].sort((a, b) => a - b)).toEqual(
            sorted.map(([, s]) => s).sort((a, b) => a - b),
          );
          const seen: [number, number][] = [];
          clock.forEach((s, vb, c) => {
            expect(c).toBe(clock);
            seen.push([vb, s]);
          });
          expect(seen.sort((a, b) => a[0] - b[0])).toEqual(sorted);
          expect(new Map(ChannelClock.from(model))).toEqual(model);
          // the same bytes as the Map's record, as a set of pairs
          expect(decodeClock(encodeClock(7, clock)).clock).toEqual(decodeClock(encodeClock(7, model)).clock);
        },
      ),
    );
  });

  it('refuses what is not a vbucket or a seqno', () => {
    const clock = new ChannelClock();
    expect(() => clock.set(-1, 1)).toThrow(RangeError);
    expect(() => clock.set(0x10000, 1)).toThrow(RangeError);
    expect(() => clock.set(1.5, 1)).toThrow(RangeError);
    expect(() => clock.set(1, -1)).toThrow(RangeError);
    expect(() => clock.set(1, Number.NaN)).toThrow(RangeError);
    expect(clock.get(1.5)).toBeUndefined();
    for (let vb = 0; vb < 100; vb++) clock.set(vb, vb + 1);
    expect(clock.get(1.5)).toBeUndefined();
    expect(clock.get(-1)).toBeUndefined();
    expect(clock.get(70_000)).toBeUndefined();
  });

  it('a clock of more than 32 vbuckets (held as an array) answers every read as its pairs do', () => {
    const pairs = Array.from({ length: 40 }, (_, i) => [i * 3, 1000 + i] as [number, number]);
    const clock = ChannelClock.from(pairs);
    expect(clock.size).toBe(40);
    for (const [vb, seq] of pairs) {
      expect(clock.get(vb)).toBe(seq);
      expect(clock.get(vb + 1)).toBeUndefined();
    }
    const seen: [number, number][] = [];
    clock.forEach((seq, vb) => {
      seen.push([vb, seq]);
    });
    expect(seen).toEqual(pairs);
    expect([...clock]).toEqual(pairs);
    expect(clock.some((vb, seq) => vb === 117 && seq === 1039)).toBe(true);
    expect(clock.some((vb, seq) => seq > 1039 || vb > 117)).toBe(false);
    // a seqno of 0 is held (stored as 1 in the array), a vbucket past the array grows it
    clock.set(1, 0).set(500, 7);
    expect([clock.get(1), clock.get(500), clock.size]).toEqual([0, 7, 42]);
    expect([clock.delete(1), clock.delete(1), clock.delete(2), clock.size]).toEqual([true, false, false, 41]);
    // every vbucket set in turn: the one at the array's end each time it grows is kept too
    const all = ChannelClock.from(pairs);
    for (let vb = 0; vb < 1024; vb++) all.set(vb, vb);
    for (let vb = 0; vb < 1024; vb++) expect(all.get(vb)).toBe(vb);
    expect(all.size).toBe(1024);
    expect(clock.has(1)).toBe(false);
  });

  it('hasReadableAbove answers as the pairs do, for a ChannelClock and a Map alike', () => {
    const clockArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 9 })), {
      maxLength: 48,
      size: 'max',
    });
    fc.assert(
      fc.property(clockArb, clockArb, clockArb, (c, since, stable) => {
        const m = new Map(c);
        const s = new Map(since);
        const st = new Map(stable);
        let want = false;
        for (const [vb, seq] of m) {
          const lo = s.get(vb) ?? 0;
          if (seq > lo && (st.get(vb) ?? 0) > lo) want = true;
        }
        expect(hasReadableAbove(m, s, st)).toBe(want);
        expect(hasReadableAbove(ChannelClock.from(m), s, st)).toBe(want);
      }),
    );
  });
});

describe('clock records from flat pairs', () => {
  it('decode to each channel its last pair per vbucket', () => {
    const chan = fc.record({
      name: fc.oneof(
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
      ),
      pairs: fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 2 ** 40 })), {
        maxLength: 12,
      }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(chan, { selector: (c) => c.name, maxLength: 8 }), (chans) => {
        const bytes = encodeClockPairs({
          names: chans.map((c) => c.name),
          counts: chans.map((c) => c.pairs.length),
          vbs: chans.flatMap((c) => c.pairs.map(([vb]) => vb)),
          seqs: chans.flatMap((c) => c.pairs.map(([, s]) => s)),
        });
        expect(decodeClockUpdates(bytes)).toEqual(new Map(chans.map((c) => [c.name, new Map(c.pairs)])));
      }),
    );
  });
});
