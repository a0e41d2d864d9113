import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';

let cluster: Cluster;
const AUTH = `Basic ${Buffer.from('Administrator:password').toString('base64')}`;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    vbuckets: 64,
    buckets: ['default', 'beer-sample'],
    users: { Administrator: 'password' },
  });
});
afterAll(async () => {
  await cluster?.close();
});

async function getJson(path: string, auth = AUTH, node = 0): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${cluster.nodes[node].mgmtPort}${path}`, {
    headers: auth ? { authorization: auth } : {},
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

describe('cluster manager REST', () => {
  it('requires HTTP Basic auth with the cluster users', async () => {
    expect((await getJson('/pools', '')).status).toBe(401);
    expect(
      (await getJson('/pools', `Basic ${Buffer.from('Administrator:wrong').toString('base64')}`)).status,
    ).toBe(401);
    expect((await getJson('/pools')).status).toBe(200);
  });

  it('walks /pools → pool → buckets → bucket like older DCP clients', async () => {
    const pools = (await getJson('/pools')).body;
    expect(pools.pools[0].name).toBe('default');
    const pool = (await getJson(pools.pools[0].uri)).body;
    for (const v of Object.values(pool.buckets)) expect(typeof v).toBe('string');
    const buckets = (await getJson(pool.buckets.uri)).body;
    expect(Array.isArray(buckets)).toBe(true);
    expect(buckets.map((b: { name: string }) => b.name)).toEqual(['default', 'beer-sample']);
    for (const b of buckets) expect(typeof b.uri).toBe('string');
    const bucket = (await getJson(buckets[0].uri)).body;
    expect(bucket.uuid).toBe(cluster.bucket('default').uuid);
    expect(bucket.vBucketServerMap.hashAlgorithm).toBe('CRC');
    expect(bucket.vBucketServerMap.vBucketMap).toHaveLength(64);
  });

  it('writes Couchbase’s JSON types', async () => {
    const b = (await getJson('/pools/default/buckets/default')).body;
    expect(typeof b.nodes[0].uptime).toBe('string');
    expect(Number.isInteger(b.replicaNumber)).toBe(true);
    for (const v of Object.values(b.quota)) expect(typeof v).toBe('number');
    expect(b.bucketCapabilities.every((c: unknown) => typeof c === 'string')).toBe(true);
    expect(typeof b.collectionsManifestUid).toBe('string');
    for (const row of b.vBucketServerMap.vBucketMap)
      for (const n of row) expect(Number.isInteger(n)).toBe(true);
    for (const n of b.nodes) for (const p of Object.values(n.ports)) expect(Number.isInteger(p)).toBe(true);
    // serverList, nodes and nodesExt in the same order.
    const kv = cluster.nodes.map((n) => n.kvPort);
    expect(b.vBucketServerMap.serverList).toEqual(kv.map((p) => `127.0.0.1:${p}`));
    expect(b.nodes.map((n: { ports: { direct: number } }) => n.ports.direct)).toEqual(kv);
    expect(b.nodesExt.map((n: { services: { kv: number; mgmt: number } }) => n.services.kv)).toEqual(kv);
    expect(b.nodesExt.map((n: { services: { mgmt: number } }) => n.services.mgmt)).toEqual(
      cluster.nodes.map((n) => n.mgmtPort),
    );
  });

  it('serves nodeServices and the terse config', async () => {
    const ns = (await getJson('/pools/default/nodeServices', AUTH, 1)).body;
    expect(ns.rev).toBe(cluster.rev);
    expect(ns.nodesExt).toHaveLength(3);
    expect(ns.nodesExt[1].thisNode).toBe(true);
    const terse = (await getJson('/pools/default/b/default')).body;
    expect(terse.rev).toBe(cluster.rev);
    expect(terse.nodeLocator).toBe('vbucket');
    expect(terse.nodesExt[0].services.kv).toBe(cluster.nodes[0].kvPort);
    expect((await getJson('/pools/default/b/nope')).status).toBe(404);
  });

  it('streams /pools/default/bs/<bucket> and pushes a new config when the topology changes', async () => {
    const chunks: any[] = [];
    let buf = '';
    const req = http.get(`http://127.0.0.1:${cluster.nodes[0].mgmtPort}/pools/default/bs/default`, {
      headers: { authorization: AUTH },
    });
    const gotTwo = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i = buf.indexOf('\n\n\n\n');
          while (i >= 0) {
            chunks.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 4);
            i = buf.indexOf('\n\n\n\n');
          }
          if (chunks.length >= 2) resolve();
        });
      });
      req.on('error', reject);
    });
    const deadline = Date.now() + 5000;
    while (chunks.length < 1) {
      if (Date.now() > deadline) throw new Error('no config streamed within 5 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const before = chunks[0].rev;
    await cluster.rebalance({ moves: [{ vbucket: 0, to: 2 }] });
    await gotTwo;
    expect(chunks[1].rev).toBeGreaterThan(before);
    expect(chunks[1].vBucketServerMap.vBucketMap[0][0]).toBe(2);
    req.destroy();
  });
});
