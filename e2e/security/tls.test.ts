import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@tributary/cluster';
import { createTlsFactory } from '@tributary/connection-tls';
import type { ConnectionFactory, TributaryError } from '@tributary/core';
import { createMetrics } from '@tributary/metrics';
import { createMutationStreamClient, createMutationStreamServer } from '@tributary/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/pipeline.js';
import { clusterStat, login, RawMcbp } from './mcbp.js';

const fx = (f: string) =>
  readFileSync(join(import.meta.dirname, '../../plugins/connection-tls/test/fixtures', f));

/** A TLS factory that counts its connect attempts. */
function counted(options: Parameters<typeof createTlsFactory>[0]): ConnectionFactory & { attempts: number } {
  const inner = createTlsFactory(options);
  const f = {
    name: 'tls-counted',
    attempts: 0,
    connect: (
      ep: Parameters<ConnectionFactory['connect']>[0],
      o?: Parameters<ConnectionFactory['connect']>[1],
    ) => {
      f.attempts++;
      return inner.connect(ep, o);
    },
    listen: inner.listen.bind(inner),
  };
  return f;
}

it('mutation stream over mutual TLS: a wrong certificate on either side gets nobody in, the server keeps serving', {
  timeout: 60_000,
}, async () => {
  const server = createMutationStreamServer({
    listen: { host: '127.0.0.1', port: 0 },
    factory: createTlsFactory({
      cert: fx('server.crt'),
      key: fx('server.key'),
      ca: fx('ca.crt'),
      requestCert: true,
      rejectUnauthorized: true,
    }),
    metrics: createMetrics(),
  });
  const endpoint = await server.start();
  const events: string[] = [];
  const drain = (async () => {
    for await (const ev of server) events.push(ev.type);
  })();
  const tryClient = async (opts: Parameters<typeof createTlsFactory>[0]) => {
    const errors: string[] = [];
    const c = createMutationStreamClient({
      endpoint,
      factory: createTlsFactory({ servername: 'localhost', ...opts }),
      connectTimeoutMs: 3000,
      handshakeTimeoutMs: 3000,
      backoff: { startMs: 10, maxMs: 20 },
      onError: (e) => errors.push(e.code),
    });
    // A refusal without a TLS alert looks like an outage and is retried: bound the attempt by
    // the errors it reports rather than by time.
    const outcome = c.connect().then(
      async () => {
        await c.beginVbucket(9, 1n, { startSeqno: 0 });
        return 'in';
      },
      (e) => `refused ${(e as { code?: string }).code}`,
    );
    const r = await Promise.race([
      outcome,
      waitFor('three failed attempts', () => errors.length >= 3, { timeoutMs: 20_000 }).then(
        () => `refused (retrying: ${errors[0]})`,
      ),
    ]);
    await c.close({ drain: false });
    return r;
  };
  try {
    // An intruder's client certificate (another CA). Node's TLS server closes such a connection
    // after the TLS 1.3 handshake without an alert, so the client cannot tell it from an outage.
    expect(await tryClient({ ca: fx('ca.crt'), cert: fx('intruder.crt'), key: fx('intruder.key') })).toMatch(
      /^refused \(retrying: TRIB_(TRANSPORT_CONNECTION_LOST|CONNECT_FAILED)\)$/,
    );
    // No client certificate at all: the server's certificate_required alert is a typed refusal.
    expect(await tryClient({ ca: fx('ca.crt') })).toBe('refused TRIB_TLS_REJECTED');
    // The client does not trust the server's CA.
    expect(await tryClient({ ca: fx('other-ca.crt'), cert: fx('client.crt'), key: fx('client.key') })).toBe(
      'refused TRIB_TLS_REJECTED',
    );
    expect(events).toEqual([]);
    // The right certificates still work: the server survived.
    expect(await tryClient({ ca: fx('ca.crt'), cert: fx('client.crt'), key: fx('client.key') })).toBe('in');
  } finally {
    await server.close();
    await drain;
  }
});

describe('mutation stream client: a server with a wrong certificate is not an outage', () => {
  it('fails with TRIB_TLS_REJECTED once (onError, connect, send) and stops, while an outage keeps retrying', {
    timeout: 60_000,
  }, async () => {
    // A real TLS server presenting a certificate from another CA.
    const impostor = createMutationStreamServer({
      listen: { host: '127.0.0.1', port: 0 },
      factory: createTlsFactory({ cert: fx('intruder.crt'), key: fx('intruder.key') }),
      metrics: createMetrics(),
    });
    const endpoint = await impostor.start();
    const drain = (async () => {
      for await (const _ of impostor) {
        /* nothing may arrive */
      }
    })();
    // An outage: a port where nothing listens any more.
    const gone = createMutationStreamServer({
      listen: { host: '127.0.0.1', port: 0 },
      factory: createTlsFactory({ cert: fx('server.crt'), key: fx('server.key') }),
    });
    const goneEndpoint = await gone.start();
    await gone.close();

    const tlsErrors: TributaryError[] = [];
    const factory = counted({ ca: fx('ca.crt'), servername: 'localhost' });
    const client = createMutationStreamClient({
      endpoint,
      factory,
      backoff: { startMs: 10, maxMs: 20 },
      onError: (e) => tlsErrors.push(e),
    });
    const outageErrors: TributaryError[] = [];
    const outageFactory = counted({ ca: fx('ca.crt'), servername: 'localhost' });
    const outage = createMutationStreamClient({
      endpoint: goneEndpoint,
      factory: outageFactory,
      backoff: { startMs: 10, maxMs: 20 },
      onError: (e) => outageErrors.push(e),
    });
    try {
      outage.connect().catch(() => {});
      const err = (await client.connect().then(
        () => undefined,
        (e) => e,
      )) as TributaryError;
      expect(err.code).toBe('TRIB_TLS_REJECTED');
      expect(err.details.tlsCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(err.retriable).toBe(false);
      expect(err.message).toContain(`${endpoint.host}:${endpoint.port}`);
      expect(tlsErrors.map((e) => e.code)).toEqual(['TRIB_TLS_REJECTED']);
      // Sends fail with the same error instead of queueing for a connection that cannot come.
      const sendErr = await client.beginVbucket(1, 1n).then(
        () => undefined,
        (e) => e,
      );
      expect(sendErr).toBe(err);
      // Meanwhile the outage is retried and reported as what it is, each time.
      await waitFor('the outage retried', () => outageErrors.length >= 5, { timeoutMs: 20_000 });
      for (const e of outageErrors) {
        expect(e.code).toBe('TRIB_CONNECT_REFUSED');
        expect(e.retriable).toBe(true);
      }
      expect(factory.attempts).toBe(1);
      expect(tlsErrors).toHaveLength(1);
      expect(outageFactory.attempts).toBeGreaterThanOrEqual(5);
    } finally {
      await client.close({ drain: false });
      await outage.close({ drain: false });
      await impostor.close();
      await drain;
    }
  });
});

describe('data node over TLS: a wrong certificate gets nobody through', () => {
  let cluster: Cluster;
  const connections = () => clusterStat(cluster, 'gauges', 'connections');
  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 1,
      vbuckets: 8,
      buckets: ['default'],
      users: { Administrator: 'password' },
      tls: { cert: fx('server.crt'), key: fx('server.key') },
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('a verifying client refuses a certificate from another CA or for another host (typed, not retriable); the node keeps serving', {
    timeout: 60_000,
  }, async () => {
    const port = cluster.nodes[0]!.kvSslPort!;
    expect(port).toBeGreaterThan(0);
    const base = connections();
    const cases = [
      {
        opts: { ca: fx('other-ca.crt'), servername: 'localhost' },
        tlsCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      },
      { opts: { ca: fx('ca.crt'), servername: 'evil.example' }, tlsCode: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    ];
    for (const { opts, tlsCode } of cases) {
      for (let i = 0; i < 5; i++) {
        const err = (await createTlsFactory(opts)
          .connect({ host: '127.0.0.1', port })
          .then(
            (c) => {
              c.destroy();
              return undefined;
            },
            (e) => e,
          )) as TributaryError & { cause?: { code?: string } };
        expect(err?.code, tlsCode).toBe('TRIB_CONNECT_FAILED');
        expect(err.retriable).toBe(false);
        expect(err.cause?.code).toBe(tlsCode);
      }
    }
    // Refused handshakes leave no session behind; a verifying client with the right CA logs in
    // (SCRAM over TLS) and the node answers.
    await waitFor('refused connections gone', () => connections() === base, { timeoutMs: 5000 });
    const ok = await RawMcbp.connect(port, { ca: fx('ca.crt'), servername: 'localhost' });
    await login(ok, 'Administrator', 'password', 'default');
    ok.destroy();
    await ok.closed;
  });
});
