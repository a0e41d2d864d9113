// Streaming over TLS end to end: an https / couchbases:// server URL makes the datasource fetch the
// cluster map over HTTPS and stream from the kvSSL ports, both through the tls connection factory.
import { readFileSync } from 'node:fs';
import { type Cluster, startCluster } from '@tributary/cluster';
import { isTributaryError } from '@tributary/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

const fixture = (f: string) => readFileSync(new URL(`./fixtures/tls/${f}`, import.meta.url));
const USERS = { app: 'secret' };
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    vbuckets: 1024,
    buckets: ['default'],
    users: USERS,
    tls: { cert: fixture('server.crt'), key: fixture('server.key') },
  });
});
afterAll(async () => {
  await cluster?.close();
});

describe('TLS', () => {
  it('streams the bucket over TLS (https map, kvSSL data nodes); final state equals the bucket', async () => {
    const b = cluster.bucket('default');
    const expected = new Map<string, string>();
    for (let i = 0; i < 5_000; i++) {
      b.upsert(`doc${i % 3_000}`, `v${i}`);
      expected.set(`doc${i % 3_000}`, `v${i}`);
    }
    for (let i = 0; i < 300; i++) {
      b.remove(`doc${i * 7}`);
      expected.delete(`doc${i * 7}`);
    }
    const [n0, n1] = cluster.nodes;
    expect(n0!.mgmtSslPort).toBeGreaterThan(0);
    const r = new MirrorReceiver();
    // Plain-TCP data ports are never dialled: a TCP factory that refuses proves every byte went over TLS.
    let tcpDials = 0;
    const ds = createBucketDataSource({
      serverUrls: [`https://127.0.0.1:${n0!.mgmtSslPort}`, `couchbases://127.0.0.1:${n1!.mgmtSslPort}`],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret', mechanism: 'PLAIN' },
      receiver: r,
      options: {
        tls: { ca: fixture('ca.crt') },
        connectionFactory: {
          name: 'no-tcp',
          connect: () => {
            tcpDials++;
            return Promise.reject(new Error('plain TCP must not be used'));
          },
          listen: () => Promise.reject(new Error('unused')),
        },
      },
    });
    await ds.start();
    // Live writes after the start arrive too.
    for (let i = 0; i < 500; i++) {
      b.upsert(`live${i}`, `l${i}`);
      expected.set(`live${i}`, `l${i}`);
    }
    await waitFor(() => r.docs.size === expected.size, 'receiver has every document', 30_000);
    for (const [k, v] of expected) expect(r.docs.get(k)?.value, k).toBe(v);
    expect(r.orderViolations).toEqual([]);
    expect(r.deletions).toBe(300);
    const st = ds.stats();
    expect(new Set(st.workers.map((w) => w.server))).toEqual(
      new Set(cluster.nodes.map((n) => `127.0.0.1:${n.kvSslPort}`)),
    );
    expect(st.workers.every((w) => w.connected)).toBe(true);
    expect(tcpDials).toBe(0);
    await ds.close();
    expect(r.errors).toEqual([]);
  }, 60_000);

  it('a server certificate from another CA: onError gets TRIB_DATASOURCE_TLS_CERTIFICATE, not "unreachable"', async () => {
    const r = new MirrorReceiver();
    const errors = r.errors;
    const ds = createBucketDataSource({
      serverUrls: [`https://127.0.0.1:${cluster.nodes[0]!.mgmtSslPort}`],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { tls: { ca: fixture('other-ca.crt') }, clusterManagerSleepMaxMs: 200 },
    });
    await ds.start();
    await waitFor(
      () => errors.filter((e) => isTributaryError(e, 'TRIB_DATASOURCE_TLS_CERTIFICATE')).length >= 2,
      'retried certificate errors',
      10_000,
    );
    await ds.close();
    const cert = errors.find((e) =>
      isTributaryError(e, 'TRIB_DATASOURCE_TLS_CERTIFICATE'),
    ) as unknown as Error & {
      details: { server: string; tlsCode: string };
      retriable: boolean;
    };
    expect(cert.details.tlsCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(cert.details.server).toContain(`${cluster.nodes[0]!.mgmtSslPort}`);
    expect(cert.retriable).toBe(false);
    // The round still ends in "no server URL gave a map", whose cause is the certificate error.
    const all = errors.find((e) => isTributaryError(e, 'TRIB_DATASOURCE_ALL_SERVER_URLS')) as Error;
    expect(all).toBeDefined();
    expect(isTributaryError(all.cause, 'TRIB_DATASOURCE_TLS_CERTIFICATE')).toBe(true);
    // Nothing was streamed and no data node was reached.
    expect(ds.stats().TotWorkerConnect).toBe(0);
  }, 30_000);

  it('the data node refuses the certificate when the map came over plain http: typed per worker', async () => {
    // Map over http (no TLS), data nodes over TLS with the wrong CA: the worker reports the certificate.
    const r = new MirrorReceiver();
    const errors = r.errors;
    const refused: Error[] = [];
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: {
        dataManagerSleepMaxMs: 200,
        // Force TLS to the data nodes through the connection factory for plain-TCP endpoints.
        connectionFactory: {
          name: 'tls-to-kvssl',
          connect: async (endpoint, o) => {
            const { createTlsFactory } = await import('@tributary/connection-tls');
            const ssl = cluster.nodes.find((n) => n.kvPort === endpoint.port)!.kvSslPort!;
            return createTlsFactory({ ca: fixture('other-ca.crt') })
              .connect({ host: endpoint.host, port: ssl }, o)
              .catch((e: Error) => {
                refused.push(e);
                throw e;
              });
          },
          listen: () => Promise.reject(new Error('unused')),
        },
      },
    });
    await ds.start();
    await waitFor(
      () => errors.filter((e) => isTributaryError(e, 'TRIB_DATASOURCE_TLS_CERTIFICATE')).length >= 2,
      'certificate errors from the workers',
      10_000,
    );
    await ds.close();
    const cert = errors.find((e) =>
      isTributaryError(e, 'TRIB_DATASOURCE_TLS_CERTIFICATE'),
    ) as unknown as Error & {
      details: { server: string; tlsCode: string };
    };
    expect(cert.details.tlsCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(cluster.nodes.map((n) => `127.0.0.1:${n.kvPort}`)).toContain(cert.details.server);
    // What the factory raised: connection-tls's TRIB_CONNECT_FAILED (not retriable), kept as the cause.
    expect(isTributaryError(refused[0], 'TRIB_CONNECT_FAILED')).toBe(true);
    expect(cert.cause).toBe(refused[0]);
    expect(errors.some((e) => isTributaryError(e, 'TRIB_CONNECT_REFUSED'))).toBe(false);
  }, 30_000);
});
