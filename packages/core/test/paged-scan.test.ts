import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pagedScan, type StoreEntry } from '../src/index.js';

const entry = (i: number): StoreEntry => ({
  key: Buffer.from([i >> 8, i & 0xff]),
  value: Buffer.from([i & 0xff]),
});

/** A source over pages of the given sizes that records its calls (async, as a backend's would be). */
function source(sizes: number[], opts: { failAt?: number } = {}) {
  const state = { calls: 0, opened: 0 };
  let next = 0;
  let row = 0;
  const open = () => {
    state.opened++;
    return async (): Promise<StoreEntry[] | null> => {
      const n = state.calls++;
      // resolve on a later turn, as a network reply would
      await new Promise((r) => setImmediate(r));
      if (n === opts.failAt) throw new Error(`page ${n} failed`);
      if (next >= sizes.length) return null;
      const size = sizes[next++]!;
      return Array.from({ length: size }, () => entry(row++));
    };
  };
  return { open, state };
}

const id = (e: StoreEntry) => (e.key[0]! << 8) | e.key[1]!;

describe('pagedScan', () => {
  it('yields every row in page order across pages of any size (empty pages included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 8 }), async (sizes) => {
        const { open, state } = source(sizes);
        const got: number[] = [];
        for await (const e of pagedScan(open)) got.push(id(e));
        const total = sizes.reduce((a, b) => a + b, 0);
        expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
        // every page, then the null that ends it
        expect(state.calls).toBe(sizes.length + 1);
        expect(state.opened).toBe(1);
      }),
      { numRuns: 60 },
    );
  });

  it('asks for a page only when the caller reaches the end of the last one, and none after return()', async () => {
    const { open, state } = source([3, 3, 3]);
    const it = pagedScan(open)[Symbol.asyncIterator]();
    expect(state.opened).toBe(0);
    await it.next();
    await it.next();
    await it.next();
    expect(state.calls).toBe(1);
    expect(id((await it.next()).value)).toBe(3);
    expect(state.calls).toBe(2);
    await it.return?.();
    expect((await it.next()).done).toBe(true);
    expect(state.calls).toBe(2);
  });

  it('a failed page rejects from next(), then the iterator is done', async () => {
    const failing = source([2, 2], { failAt: 1 });
    const it = pagedScan(failing.open)[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    expect((await it.next()).done).toBe(false);
    await expect(it.next()).rejects.toThrow('page 1 failed');
    expect((await it.next()).done).toBe(true);
  });

  it('open() errors reject from the first next()', async () => {
    const it = pagedScan(() => {
      throw new Error('closed');
    })[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toThrow('closed');
  });
});
