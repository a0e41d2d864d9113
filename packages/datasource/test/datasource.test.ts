import { type Cluster, startCluster } from '@tributary/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';
import { runLoad } from './load.js';

// 1,000,000 takes minutes with the in-process cluster on this shared 2-core box: CI runs 150,000;
// DS_TEST_MUTATIONS=1000000 runs the full issue load.
const TOTAL = Number(process.env.DS_TEST_MUTATIONS ?? 150_000);

function compare(actual: Map<string, { value: string }>, expected: Map<string, string>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (!a) diffs.push(`missing ${k}`);
    else if (a.value !== v) diffs.push(`stale ${k}`);
    if (diffs.length > 10) return diffs;
  }
  for (const k of actual.keys()) {
    if (!expected.has(k)) diffs.push(`extra ${k}`);
    if (diffs.length > 10) return diffs;
  }
  return diffs;
}

describe('datasource against a 2-node, 1,024-vbucket cluster', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 2,
      vbuckets: 1024,
      buckets: ['default'],
      users: { app: 'secret' },
      expiryPagerIntervalMs: 60_000,
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it(`streams ${TOTAL} mutations (updates, deletions, expirations) written while streaming; final state equals the bucket`, async () => {
    const b = cluster.bucket('default');
    const r = new MirrorReceiver();
    const ds = createBucketDataSource({
      serverUrls: cluster.nodes.map((n) => `http://127.0.0.1:${n.mgmtPort}`),
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { seqnoPollIntervalMs: 200, feedBufferSizeBytes: 1_000_000 },
    });
    await ds.start();
    const t0 = Date.now();
    // keys = TOTAL keeps ~37 % of versions superseded: updates and deletions without tripping the
    // embedded cluster into compacting its history on every write (see the report).
    const load = await runLoad(b, TOTAL, { keys: TOTAL, batch: 10_000 });
    const tLoad = Date.now() - t0;
    // let the short expiries pass, then turn them into expirations
    await waitFor(
      () => [...load.expiring].slice(0, 50).every((k) => b.get(k) === undefined),
      'expiries due',
      10_000,
      100,
    );
    const expired = b.runExpiryPager();
    for (const k of load.expiring) load.expected.delete(k);
    await waitFor(
      () => compare(r.docs, load.expected).length === 0,
      'receiver state == bucket state',
      60_000,
      100,
    );
    const tAll = Date.now() - t0;
    // the bucket itself agrees with the model
    let checked = 0;
    for (const [k, v] of load.expected) {
      if (checked++ > 2000) break;
      expect(b.get(k)?.value.toString()).toBe(v);
    }
    expect(r.orderViolations).toEqual([]);
    expect(r.deletions).toBeGreaterThan(0);
    expect(expired).toBeGreaterThan(0);
    expect(r.expirations).toBeGreaterThanOrEqual(expired);
    await waitFor(() => ds.stats().lagTotal === 0, 'lag 0', 10_000, 100);
    const st = ds.stats();
    expect(st.TotUPRDataChange).toBeGreaterThanOrEqual(r.docs.size);
    expect(st.vbuckets.length).toBe(1024);
    expect(st.vbuckets.every((v) => v.state === 'running')).toBe(true);
    expect(st.TotUPRBufferAck).toBeGreaterThan(0);
    console.log(
      `load ${TOTAL} in ${tLoad} ms; consistent after ${tAll} ms; deliveries ${st.TotUPRDataChange}`,
    );
    await ds.close();
    expect(r.errors).toEqual([]);
  }, 120_000);
});
