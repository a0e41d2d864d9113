// VBucket history compaction (threshold + hysteresis) and Item's inline CAS halves.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Item, ItemKind, VBucket } from '../src/index.js';
import { COMPACT_MIN_DEAD } from '../src/vbucket.js';

let cas = 1n;
function put(vb: VBucket, key: string, value = 'v'): Item {
  const old = vb.get(key);
  const it = new Item(
    key,
    Buffer.from(value),
    0,
    0,
    0,
    cas++,
    (old?.revSeqno ?? 0) + 1,
    ItemKind.Mutation,
    0,
  );
  return vb.appendReplacing(it, old);
}

describe('VBucket compaction', () => {
  it('a hot key rewritten 100,000 times: the log stays bounded and compaction runs rarely', () => {
    const vb = new VBucket(0);
    vb.trackDirty = false;
    const writes = 100_000;
    let maxLog = 0;
    for (let i = 0; i < writes; i++) {
      put(vb, `hot-${i % 8}`, String(i));
      maxLog = Math.max(maxLog, vb.log.length);
    }
    // Live 8, history tail 1024: without compaction the log would hold every write.
    expect(maxLog).toBeLessThanOrEqual(8 + vb.historyTail + COMPACT_MIN_DEAD + 1);
    // Each pass needs COMPACT_MIN_DEAD new dead entries: not one pass per write past the threshold.
    expect(vb.compactions).toBeGreaterThan(0);
    expect(vb.compactions).toBeLessThanOrEqual(Math.ceil(writes / COMPACT_MIN_DEAD));
    // The newest version of each key is what reads and DCP see.
    for (let k = 0; k < 8; k++) expect(vb.get(`hot-${k}`)!.value.toString()).toBe(String(writes - 8 + k));
    const current = vb.collect(0, vb.highSeqno);
    expect(current.map((it) => it.keyStr).sort()).toEqual(Array.from({ length: 8 }, (_, k) => `hot-${k}`));
  });

  it('with many live keys, a pass waits for dead entries worth half the live ones', () => {
    const vb = new VBucket(0, { historyTail: 16 });
    vb.trackDirty = false;
    const live = 20_000;
    for (let i = 0; i < live; i++) put(vb, `k${i}`);
    // 5,000 updates: more than COMPACT_MIN_DEAD dead entries, fewer than half the live ones.
    for (let i = 0; i < 5_000; i++) put(vb, `k${i}`, 'u1');
    expect(vb.compactions).toBe(0);
    expect(vb.staleCount).toBe(5_000);
    // Past live / 2 dead entries: one pass, which keeps only the versions inside the history tail.
    for (let i = 5_000; i < 10_001; i++) put(vb, `k${i}`, 'u1');
    expect(vb.compactions).toBe(1);
    expect(vb.staleCount).toBeLessThanOrEqual(16);
    expect(vb.log.length).toBe(live + vb.staleCount);
  });

  it('versions kept for the history tail never make the next write compact again', () => {
    // A tail as long as the stream of updates: the pass can drop nothing.
    const vb = new VBucket(0, { historyTail: 1_000_000 });
    vb.trackDirty = false;
    for (let i = 0; i < 10 * COMPACT_MIN_DEAD; i++) put(vb, `k${i % 4}`);
    // Without the hysteresis this was one pass per write after the first 2 × COMPACT_MIN_DEAD.
    expect(vb.compactions).toBeLessThanOrEqual(10);
    expect(vb.staleCount).toBe(10 * COMPACT_MIN_DEAD - 4);
  });

  it('after compaction a truncate still restores the versions inside the history tail', () => {
    const vb = new VBucket(0, { historyTail: 64 });
    vb.trackDirty = false;
    for (let i = 0; i < 5_000; i++) put(vb, `k${i % 10}`, `v${i}`);
    expect(vb.compactions).toBeGreaterThan(0);
    vb.truncate(10); // lose the last round of writes: each key returns to its previous version
    for (let k = 0; k < 10; k++) expect(vb.get(`k${k}`)!.value.toString()).toBe(`v${4_980 + k}`);
    expect(vb.highSeqno).toBe(4_990);
    // Keeps working (and compacting) after the truncate.
    const before = vb.compactions;
    for (let i = 0; i < 5_000; i++) put(vb, `k${i % 10}`);
    expect(vb.compactions).toBeGreaterThan(before);
    expect(vb.log.length).toBeLessThanOrEqual(10 + 64 + COMPACT_MIN_DEAD + 1);
  });
});

describe('Item CAS halves', () => {
  it('hold any u64 CAS as two int32 bit patterns that rebuild it exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }), (c) => {
        const it = new Item('k', Buffer.alloc(0), 0, 0, 0, c, 1, ItemKind.Mutation, 0);
        expect(Number.isInteger(it.casHi) && it.casHi >= -(2 ** 31) && it.casHi < 2 ** 31).toBe(true);
        expect(Number.isInteger(it.casLo) && it.casLo >= -(2 ** 31) && it.casLo < 2 ** 31).toBe(true);
        expect((BigInt(it.casHi >>> 0) << 32n) | BigInt(it.casLo >>> 0)).toBe(c);
      }),
    );
  });
});
