import type { BucketHandle } from '@tributary/cluster';

export interface LoadResult {
  /** key → value of live documents after the load (expiring ones excluded once expired). */
  expected: Map<string, string>;
  /** keys whose last write carries an expiry. */
  expiring: Set<string>;
  mutations: number;
}

/**
 * Writes `total` mutations (upserts, updates, deletions and short-expiry upserts) over `keys` keys
 * in batches, yielding to the event loop between batches so streaming runs concurrently.
 */
export async function runLoad(
  b: BucketHandle,
  total: number,
  opts: {
    keys: number;
    batch?: number;
    valueBytes?: number;
    seed?: number;
    onBatch?: (done: number) => Promise<void> | void;
  },
): Promise<LoadResult> {
  const expected = new Map<string, string>();
  const expiring = new Set<string>();
  const batch = opts.batch ?? 5000;
  const pad = 'x'.repeat(Math.max(0, (opts.valueBytes ?? 100) - 12));
  let seed = opts.seed ?? 42;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  let done = 0;
  while (done < total) {
    const n = Math.min(batch, total - done);
    for (let i = 0; i < n; i++) {
      const k = `key${rnd() % opts.keys}`;
      const op = rnd() % 100;
      const m = done + i;
      if (op < 12 && expected.has(k) && !expiring.has(k)) {
        b.remove(k);
        expected.delete(k);
        expiring.delete(k);
      } else if (op < 15) {
        const v = `e${m}${pad}`;
        b.upsert(k, v, { expiry: 1 });
        expected.set(k, v);
        expiring.add(k);
      } else {
        const v = `v${m}${pad}`;
        b.upsert(k, v);
        expected.set(k, v);
        expiring.delete(k);
      }
    }
    done += n;
    await opts.onBatch?.(done);
    await new Promise((r) => setImmediate(r));
  }
  return { expected, expiring, mutations: done };
}
