// End-state checks: readers against the bucket, and the index against one rebuilt from scratch.
import { type ChannelIndex, createChannelIndex } from '@tributary/channel-index';
import type { Cluster } from '@tributary/cluster';
import { createBucketDataSource } from '@tributary/datasource';
import { createMemoryStore } from '@tributary/store-memory';
import { CHANNELS, expectedState } from './load.js';
import { BUCKET, caughtUp, USERS, waitFor } from './pipeline.js';
import type { Reader } from './readers.js';

export function diffMaps(want: Map<string, number>, got: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, v] of want)
    if (got.get(k) !== v) out.push(`${k}: want v${v}, got ${got.get(k) ?? 'absent'}`);
  for (const [k, v] of got) if (!want.has(k)) out.push(`${k}: unexpected v${v}`);
  return out;
}

/** Live documents (id → v) of a channel as the index serves them. */
export async function indexState(index: ChannelIndex, channel: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let since = '0';
  for (;;) {
    const page = await index.changes({
      channels: [channel],
      since,
      limit: 5000,
      includeDocs: true,
      activeOnly: true,
    });
    for (const e of page.results) {
      const v = (e.doc as { v?: number } | undefined)?.v;
      if (v !== undefined) out.set(e.id, v);
      else out.delete(e.id);
    }
    if (page.results.length === 0 || page.lastSeq === since) return out;
    since = page.lastSeq;
  }
}

/** Waits for every reader to reach the bucket's final state; returns the mismatches per reader (empty = good). */
export async function checkReaders(cluster: Cluster, keys: number, readers: Reader[], timeoutMs = 30_000) {
  const want = expectedState(cluster, keys);
  try {
    await waitFor(
      'readers to reach the final state',
      () => readers.every((r) => diffMaps(want.get(r.channel)!, r.live).length === 0),
      {
        timeoutMs,
        intervalMs: 50,
      },
    );
  } catch {
    /* reported below */
  }
  return readers.map((r) => ({
    kind: r.kind,
    channel: r.channel,
    diff: diffMaps(want.get(r.channel)!, r.live).slice(0, 10),
  }));
}

/** Builds a fresh index straight from the cluster (datasource → index, memory store) and compares every channel. */
export async function compareWithRebuilt(cluster: Cluster, index: ChannelIndex): Promise<string[]> {
  const fresh = createChannelIndex({ store: createMemoryStore() });
  const ds = createBucketDataSource({
    serverUrls: [cluster.managementUrl],
    bucketName: BUCKET,
    auth: { username: 'Administrator', password: USERS.Administrator },
    receiver: fresh,
    options: { seqnoPollIntervalMs: 0 },
  });
  await ds.start();
  try {
    await waitFor('rebuilt index to catch up', () => caughtUp(cluster, (vb) => fresh.getMetaData(vb)), {
      timeoutMs: 60_000,
    });
    await fresh.flush();
    const out: string[] = [];
    for (const c of CHANNELS) {
      const d = diffMaps(await indexState(fresh, c), await indexState(index, c));
      for (const x of d.slice(0, 5)) out.push(`${c}: ${x}`);
    }
    return out;
  } finally {
    await ds.close();
    await fresh.close();
  }
}
