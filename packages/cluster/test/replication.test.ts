// Replica copies follow the vbucket map: a cluster that loses its only replica stops
// replicating (and pays nothing per write), and replicates again once a rebalance gives the
// vbuckets replicas back; a failover promotes a replica with what it had received.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { bootstrap, FEATURES, TestClient } from './helpers/client.js';

let cluster: Cluster;
const clients: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    vbuckets: 8,
    buckets: ['default'],
    users: { Administrator: 'password' },
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

async function getReplica(key: string): Promise<{ status: number; value: string }> {
  const vb = cluster.bucket('default').vbucketOf(key);
  const replica = cluster.vbucketMap()[vb][1];
  if (replica < 0) return { status: -1, value: '' };
  const c = await TestClient.connect(cluster.nodes[replica].kvPort);
  clients.push(c);
  await bootstrap(c, { bucket: 'default', features: FEATURES });
  const r = await c.call({ opcode: 0x83, vbucket: vb, key });
  return { status: r.status, value: r.value.toString() };
}

describe('replication', () => {
  it('follows the vbucket map through failover and rebalance', async () => {
    const b = cluster.bucket('default');
    b.upsert('r1', { v: 1 });
    await vi.waitFor(async () => expect(await getReplica('r1')).toEqual({ status: 0, value: '{"v":1}' }));
    await cluster.failover(1);
    expect(cluster.vbucketMap().every((row) => row[1] === -1)).toBe(true);
    b.upsert('r1', { v: 2 });
    expect(b.get('r1')!.value.toString()).toBe('{"v":2}');
    await cluster.startNode(1);
    await cluster.rebalance({ nodes: [0, 1] });
    expect(cluster.vbucketMap().every((row) => row[1] >= 0)).toBe(true);
    // The new replicas are built from the active's current items.
    await vi.waitFor(async () => expect(await getReplica('r1')).toEqual({ status: 0, value: '{"v":2}' }));
    b.upsert('r1', { v: 3 });
    await vi.waitFor(async () => expect(await getReplica('r1')).toEqual({ status: 0, value: '{"v":3}' }));
  });
});
