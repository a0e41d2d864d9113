// Replicas and durable writes as the official Node SDK sees them (3 nodes, one replica), with
// replication held back on purpose to make the lag Couchbase has. Expected answers after
// kv_engine docs/Durability.md and the SDK's error classes for DURABILITY_IMPOSSIBLE (0xa1),
// SYNC_WRITE_IN_PROGRESS (0xa2) and SYNC_WRITE_AMBIGUOUS (0xa3).
import couchbase, { DurabilityLevel } from 'couchbase';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';

let cluster: Cluster;
let a: couchbase.Cluster;
let b: couchbase.Cluster;
const VBS = 32;

const connect = () =>
  couchbase.connect(`couchbase://127.0.0.1:${cluster.nodes[0].kvPort}`, {
    username: 'Administrator',
    password: 'password',
    timeouts: { connectTimeout: 15_000, bootstrapTimeout: 15_000, kvTimeout: 5_000, kvDurableTimeout: 5_000 },
  });

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    replicas: 1,
    vbuckets: VBS,
    buckets: ['default'],
    users: { Administrator: 'password' },
  });
  // Two SDK instances: two connections to each node, so one can write while the other waits.
  a = await connect();
  b = await connect();
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await cluster?.close();
});

const coll = (c: couchbase.Cluster) => c.bucket('default').defaultCollection();

/** A key whose vbucket has `node` as its active (and the replica it has). */
function keyOn(prefix: string, active: number): { key: string; replica: number } {
  for (let i = 0; ; i++) {
    const key = `${prefix}-${i}`;
    const row = cluster.vbucketMap()[cluster.bucket('default').vbucketOf(key)];
    if (row[0] === active) return { key, replica: row[1] };
  }
}

async function rejection(p: Promise<unknown>): Promise<Error & { context?: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { context?: unknown };
  }
  throw new Error('expected a rejection');
}

describe('replicas and durability through the SDK', () => {
  it('getAllReplicas shows a lagging replica as it is; it catches up on resume', async () => {
    const { key, replica } = keyOn('lag', 0);
    await coll(a).upsert(key, { v: 1 });
    await vi.waitFor(async () => expect((await coll(a).getAnyReplica(key)).content).toEqual({ v: 1 }));
    cluster.pauseReplication([replica]);
    try {
      await coll(a).upsert(key, { v: 2 });
      const all = await coll(a).getAllReplicas(key);
      const active = all.find((r) => !r.isReplica)!;
      const copy = all.find((r) => r.isReplica)!;
      expect(active.content).toEqual({ v: 2 });
      expect(copy.content).toEqual({ v: 1 });
    } finally {
      cluster.resumeReplication();
    }
    await vi.waitFor(async () => {
      const copy = (await coll(a).getAllReplicas(key)).find((r) => r.isReplica)!;
      expect(copy.content).toEqual({ v: 2 });
    });
  });

  it('a majority write waits for the replica: readers see the old value, writers get SYNC_WRITE_IN_PROGRESS', async () => {
    const { key, replica } = keyOn('sw', 1);
    await coll(a).upsert(key, { v: 'old' });
    cluster.pauseReplication([replica]);
    let durable: Promise<unknown> | undefined;
    try {
      durable = coll(a).upsert(
        key,
        { v: 'new' },
        { durabilityLevel: DurabilityLevel.Majority, timeout: 8_000 },
      );
      await vi.waitFor(() => expect(cluster.stats().sync_writes_in_flight).toBe(1));
      expect((await coll(b).get(key)).content).toEqual({ v: 'old' });
      // The SDK retries SYNC_WRITE_IN_PROGRESS (retry reason key_value_sync_write_in_progress).
      const err = await rejection(coll(b).upsert(key, { v: 'other' }, { timeout: 400 }));
      expect(err).toBeInstanceOf(couchbase.TimeoutError);
      expect(JSON.stringify(err.context)).toMatch(/key_value_sync_write_in_progress/);
    } finally {
      cluster.resumeReplication();
    }
    await durable;
    expect((await coll(b).get(key)).content).toEqual({ v: 'new' });
  });

  it('a durable write the replica never acknowledges is SYNC_WRITE_AMBIGUOUS and is not applied', async () => {
    const { key, replica } = keyOn('amb', 2);
    await coll(a).upsert(key, { v: 'kept' });
    cluster.pauseReplication([replica]);
    try {
      const err = await rejection(
        coll(a).upsert(
          key,
          { v: 'lost' },
          { durabilityLevel: DurabilityLevel.PersistToMajority, timeout: 500 },
        ),
      );
      expect(err).toBeInstanceOf(couchbase.DurabilityAmbiguousError);
    } finally {
      cluster.resumeReplication();
    }
    expect((await coll(a).get(key)).content).toEqual({ v: 'kept' });
    expect(cluster.stats().sync_writes_in_flight).toBe(0);
  });

  it('failover promotes the replica: what it had not received is lost; durability then is impossible', {
    timeout: 30_000,
  }, async () => {
    const { key, replica } = keyOn('fo', 2);
    const { key: safe } = keyOn('fo-safe', 2);
    await coll(a).upsert(safe, { v: 'replicated' });
    await vi.waitFor(async () =>
      expect((await coll(a).getAnyReplica(safe)).content).toEqual({ v: 'replicated' }),
    );
    cluster.pauseReplication([replica]);
    await coll(a).upsert(key, { v: 'unreplicated' });
    await cluster.failover(2);
    cluster.resumeReplication();
    expect(cluster.vbucketMap()[cluster.bucket('default').vbucketOf(key)][0]).toBe(replica);
    // The SDK moves to the new map (pushed to duplex connections) and retries.
    await vi.waitFor(
      async () => expect((await coll(a).get(safe, { timeout: 500 })).content).toEqual({ v: 'replicated' }),
      {
        timeout: 15_000,
      },
    );
    expect(await rejection(coll(a).get(key))).toBeInstanceOf(couchbase.DocumentNotFoundError);
    // Node 2 is gone: every vbucket it held now has a chain [x, -1], a majority of 2 cannot be had.
    const err = await rejection(
      coll(a).upsert(safe, { v: 2 }, { durabilityLevel: DurabilityLevel.Majority }),
    );
    expect(err).toBeInstanceOf(couchbase.DurabilityImpossibleError);
  });
});
