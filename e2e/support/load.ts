// Load generator (updates, deletes, expirations) and the end-state model of the bucket.
import type { Cluster } from '@tributary/cluster';
import { BUCKET } from './pipeline.js';

export const CHANNELS = ['a', 'b', 'c', 'd'] as const;

export interface LoadStats {
  ops: number;
  updates: number;
  deletes: number;
  expiring: number;
  /** Wall-clock ms when the last expiring document is due. */
  lastExpiryDue: number;
}

/** Deterministic PRNG (mulberry32) so a failing run can be replayed with its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `ops` writes over `keys` documents in slices (yielding between them so the pipeline runs
 * throughout). Writes to a vbucket whose node is down are retried by the next slice's draw.
 */
export async function runLoad(
  cluster: Cluster,
  o: {
    ops: number;
    keys: number;
    seed?: number;
    slice?: number;
    stop?: () => boolean;
    onSlice?: (done: number) => void | Promise<void>;
  },
): Promise<LoadStats> {
  const b = cluster.bucket(BUCKET);
  const rand = rng(o.seed ?? 1);
  const st: LoadStats = { ops: 0, updates: 0, deletes: 0, expiring: 0, lastExpiryDue: 0 };
  const slice = o.slice ?? 500;
  let v = 0;
  while (st.ops < o.ops && !o.stop?.()) {
    for (let i = 0; i < slice && st.ops < o.ops; i++) {
      const key = `doc-${Math.floor(rand() * o.keys)}`;
      const r = rand();
      const ch = CHANNELS[Math.floor(rand() * CHANNELS.length)]!;
      try {
        if (r < 0.15) {
          if (b.get(key)) {
            b.remove(key);
            st.deletes++;
          }
        } else if (r < 0.25) {
          b.upsert(key, { channels: [ch], v: ++v, key }, { expiry: 1 });
          st.expiring++;
          st.lastExpiryDue = Date.now() + 2000;
        } else {
          b.upsert(key, { channels: [ch], v: ++v, key });
          st.updates++;
        }
        st.ops++;
      } catch (err) {
        if (!(err as { code?: string }).code?.startsWith('TRIB_CLUSTER_')) throw err;
      }
    }
    await o.onSlice?.(st.ops);
    await new Promise((r) => setImmediate(r));
  }
  return st;
}

/** Expected live documents per channel: id → v, from the bucket's current contents. */
export function expectedState(cluster: Cluster, keys: number): Map<string, Map<string, number>> {
  const b = cluster.bucket(BUCKET);
  const out = new Map<string, Map<string, number>>(CHANNELS.map((c) => [c, new Map()]));
  for (let i = 0; i < keys; i++) {
    const g = b.get(`doc-${i}`);
    if (!g) continue;
    const doc = JSON.parse(g.value.toString('utf8')) as { channels: string[]; v: number };
    for (const c of doc.channels) out.get(c)?.set(`doc-${i}`, doc.v);
  }
  return out;
}

/** Waits until every expiring document is due, then runs the pager (expirations into the stream). */
export async function expireAll(cluster: Cluster, st: LoadStats): Promise<number> {
  const wait = st.lastExpiryDue - Date.now();
  // Expiry is wall-clock by nature: the documents become due at this time, nothing to wait on.
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return cluster.bucket(BUCKET).runExpiryPager();
}
