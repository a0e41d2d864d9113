import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Lru } from '../src/internal/lru.js';

type Op = { t: 'set'; k: number; v: number } | { t: 'get'; k: number } | { t: 'del'; k: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), k: fc.nat(20), v: fc.nat() }),
  fc.record({ t: fc.constant('get' as const), k: fc.nat(20) }),
  fc.record({ t: fc.constant('del' as const), k: fc.nat(20) }),
);

describe('two-generation LRU (the index caches)', () => {
  it('never returns a stale value, stays within capacity, and keeps what was just used', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.array(op, { maxLength: 300, size: 'max' }),
        (max, ops) => {
          const lru = new Lru<number, number>(max);
          const latest = new Map<number, number>();
          for (const o of ops) {
            if (o.t === 'set') {
              const [had, size] = [lru.has(o.k), lru.size];
              lru.set(o.k, o.v);
              // replacing a value never adds an entry (nor keeps the old one beside it)
              if (had) expect(lru.size).toBeLessThanOrEqual(size);
              latest.set(o.k, o.v);
              expect(lru.get(o.k)).toBe(o.v); // just set: present
            } else if (o.t === 'del') {
              lru.delete(o.k);
              latest.delete(o.k);
              expect(lru.has(o.k)).toBe(false);
            } else {
              const size = lru.size;
              const got = lru.get(o.k);
              // absent (evicted) or the latest value: never an older one
              if (got !== undefined) expect(got).toBe(latest.get(o.k));
              // a miss adds nothing (and a hit moves an entry, never adds one)
              else expect([lru.size, lru.has(o.k)]).toEqual([size, false]);
              if (got !== undefined) expect(lru.peek(o.k)).toBe(got);
            }
            expect(lru.size).toBeLessThanOrEqual(max);
          }
        },
      ),
    );
  });

  it('a cache that never reached half its capacity evicts nothing; a full one counts evictions', () => {
    const lru = new Lru<string, number>(10);
    for (let i = 0; i < 4; i++) lru.set(`k${i}`, i);
    for (let i = 0; i < 4; i++) lru.set(`k${i}`, i + 100); // replacing adds nothing
    expect(lru.evictions).toBe(0);
    expect(lru.size).toBe(4);
    for (let i = 4; i < 30; i++) lru.set(`k${i}`, i);
    expect(lru.evictions).toBeGreaterThan(0);
    expect(lru.get('k29')).toBe(29);
    expect(lru.get('k0')).toBeUndefined();
  });
});
