import { type AddressInfo, createServer } from 'node:net';
import fc from 'fast-check';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fetchClusterMap,
  followClusterMap,
  isNewerMap,
  JsonObjectSplitter,
  normalizeServerUrl,
  parseClusterMap,
} from '../src/index.js';

function terse(rev: number, serverList: string[]) {
  return {
    rev,
    revEpoch: 1,
    name: 'default',
    uuid: 'c604aa',
    nodeLocator: 'vbucket',
    vBucketServerMap: {
      hashAlgorithm: 'CRC',
      numReplicas: 1,
      serverList,
      vBucketMap: [
        [0, 1],
        [1, 0],
        [0, -1],
        [-1, -1],
      ],
    },
    nodesExt: [
      { services: { kv: 11210, kvSSL: 11207, mgmt: 8091 }, thisNode: true },
      { services: { kv: 11210, kvSSL: 11207, mgmt: 8091 }, hostname: '10.0.0.2' },
    ],
  };
}

describe('cluster map over HTTP', () => {
  const app = Fastify();
  let base = '';
  let pushes = 0;
  beforeAll(async () => {
    app.addHook('onRequest', async (req, reply) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`)
        return reply.code(401).send();
    });
    app.get('/pools/default/b/:bucket', async () => terse(7, ['$HOST:11210', '10.0.0.2:11210']));
    app.get('/pools/default/bs/:bucket', (_req, reply) => {
      reply.raw.writeHead(200, { 'content-type': 'application/json' });
      const a = JSON.stringify(terse(8, ['$HOST:11210', '10.0.0.2:11210']));
      const b = JSON.stringify(terse(9, ['$HOST:11210', '10.0.0.3:11210']));
      // split a config across writes, and two in one write
      reply.raw.write(a.slice(0, 10));
      setTimeout(() => {
        reply.raw.write(`${a.slice(10)}\n\n\n\n${b}\n\n\n\n`);
        pushes++;
        setTimeout(() => reply.raw.end(), 20);
      }, 20);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app.close();
  });

  it('fetches the terse config, resolves $HOST and maps kvSSL ports from nodesExt', async () => {
    const m = await fetchClusterMap(base, {
      poolName: 'default',
      bucketName: 'default',
      username: 'u',
      password: 'p',
      timeoutMs: 5000,
    });
    expect(m.servers).toEqual(['127.0.0.1:11210', '10.0.0.2:11210']);
    expect(m.tlsServers).toEqual(['127.0.0.1:11207', '10.0.0.2:11207']);
    expect(m.numVbuckets).toBe(4);
    expect(m.vbucketMap[3]).toEqual([-1, -1]);
    expect(m.rev).toBe(7);
    expect(m.bucketUuid).toBe('c604aa');
  });

  it('401 is TRIB_AUTH_FAILED with the server URL and user', async () => {
    const err = await fetchClusterMap(base, {
      poolName: 'default',
      bucketName: 'default',
      username: 'u',
      password: 'x',
      timeoutMs: 5000,
    }).catch((e) => e);
    expect(err.code).toBe('TRIB_AUTH_FAILED');
    expect(err.details).toEqual({ serverUrl: base, user: 'u' });
  });

  it('a server that accepts and never answers: TRIB_DATASOURCE_CLUSTER_MAP after timeoutMs; an abort stops it too', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const t0 = Date.now();
      const err = await fetchClusterMap(url, {
        poolName: 'default',
        bucketName: 'default',
        timeoutMs: 300,
      }).catch((e) => e);
      expect(err.code).toBe('TRIB_DATASOURCE_CLUSTER_MAP');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      const ac = new AbortController();
      const pending = fetchClusterMap(url, {
        poolName: 'default',
        bucketName: 'default',
        timeoutMs: 60_000,
        signal: ac.signal,
      }).catch((e) => e);
      ac.abort(new Error('stop'));
      expect((await pending).code).toBe('TRIB_DATASOURCE_CLUSTER_MAP');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('follows the streaming endpoint: each pushed config, however the bytes are split', async () => {
    const revs: number[] = [];
    await followClusterMap(
      base,
      { poolName: 'default', bucketName: 'default', username: 'u', password: 'p', connectTimeoutMs: 5000 },
      (m) => revs.push(m.rev),
    );
    expect(revs).toEqual([8, 9]);
    expect(pushes).toBeGreaterThan(0);
  });

  it('a bad map is TRIB_DATASOURCE_CLUSTER_MAP', () => {
    expect(() =>
      parseClusterMap({ vBucketServerMap: { serverList: ['a:1'], vBucketMap: [[3]] } }, base),
    ).toThrow(/vBucketMap/);
    expect(() => parseClusterMap({}, base)).toThrow(/vBucketServerMap/);
  });

  it('normalizes couchbase:// and couchbases:// URLs; newer = larger (revEpoch, rev)', () => {
    expect(normalizeServerUrl('couchbase://h1').toString()).toBe('http://h1:8091/');
    expect(normalizeServerUrl('couchbases://h1').toString()).toBe('https://h1:18091/');
    expect(normalizeServerUrl('h2:9000').toString()).toBe('http://h2:9000/');
    const a = parseClusterMap(terse(5, ['x:1', 'y:1']), base);
    const b = { ...parseClusterMap(terse(3, ['x:1', 'y:1']), base), revEpoch: 2 };
    expect(isNewerMap(b, a)).toBe(true);
    expect(isNewerMap(a, b)).toBe(false);
  });

  it('JsonObjectSplitter finds every object whatever the chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer())),
          { maxLength: 6 },
        ),
        fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 30 }),
        (objs, cuts) => {
          const text = objs.map((o) => JSON.stringify(o)).join('\n\n\n\n');
          const sp = new JsonObjectSplitter();
          const out: unknown[] = [];
          let i = 0;
          for (const c of cuts) {
            if (i >= text.length) break;
            for (const s of sp.push(text.slice(i, i + c))) out.push(JSON.parse(s));
            i += c;
          }
          for (const s of sp.push(text.slice(i))) out.push(JSON.parse(s));
          expect(out).toEqual(objs);
        },
      ),
    );
  });
});
