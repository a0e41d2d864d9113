import fc from 'fast-check';
import { expect, it } from 'vitest';
import { pushVarint, VarintReader, writeVarint } from '../src/internal/varint.js';

const fail = (): never => {
  throw new Error('truncated');
};

it('pushVarint and writeVarint write the same bytes, and VarintReader reads every number back', () => {
  fc.assert(
    fc.property(fc.array(fc.maxSafeNat(), { maxLength: 50 }), (ns) => {
      const pushed: number[] = [];
      for (const n of ns) pushVarint(pushed, n);
      const written = new Uint8Array(ns.length * 8);
      let o = 0;
      for (const n of ns) o = writeVarint(written, o, n);
      expect(Array.from(written.subarray(0, o))).toEqual(pushed);
      const r = new VarintReader(Uint8Array.from(pushed), fail);
      const back: number[] = [];
      while (!r.done) back.push(r.varint());
      expect(back).toEqual(ns);
    }),
  );
});

it('a number cut off by the end goes to the truncated handler with what was read', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0x80, max: Number.MAX_SAFE_INTEGER }), (n) => {
      const bytes: number[] = [];
      pushVarint(bytes, n);
      const cut = Uint8Array.from(bytes.slice(0, -1));
      const partials: number[] = [];
      const r = new VarintReader(cut, (p) => {
        partials.push(p);
        return -1;
      });
      expect(r.varint()).toBe(-1);
      expect(partials).toHaveLength(1);
      expect(partials[0]).toBeLessThan(n);
      expect(() => new VarintReader(cut, fail).varint()).toThrow('truncated');
    }),
  );
});

it('random bytes never hang or read past the end', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = new VarintReader(bytes, () => -1);
      let reads = 0;
      while (!r.done) {
        r.varint();
        reads++;
      }
      expect(r.i).toBe(bytes.length);
      expect(reads).toBeLessThanOrEqual(bytes.length);
    }),
  );
});
