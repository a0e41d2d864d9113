import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTlsFactory } from '@tributary/connection-tls';
import { createMetrics } from '@tributary/metrics';
import { createMutationStreamClient, createMutationStreamServer } from '@tributary/transport';
import { expect, it } from 'vitest';

const fx = (f: string) =>
  readFileSync(join(import.meta.dirname, '../../plugins/connection-tls/test/fixtures', f));

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
    const c = createMutationStreamClient({
      endpoint,
      factory: createTlsFactory({ servername: 'localhost', ...opts }),
      connectTimeoutMs: 3000,
      handshakeTimeoutMs: 3000,
      backoff: { startMs: 10, maxMs: 20 },
    });
    // A client may keep retrying a refused handshake by itself: bound the attempt.
    const r = await Promise.race([
      c.connect().then(
        async () => {
          await c.beginVbucket(9, 1n, { startSeqno: 0 });
          return 'in';
        },
        (e) => `refused ${(e as { code?: string }).code}`,
      ),
      new Promise<string>((res) => setTimeout(() => res('refused (still retrying after 5 s)'), 5000).unref()),
    ]);
    await Promise.race([c.close({ drain: false }), new Promise((res) => setTimeout(res, 2000).unref())]);
    return r;
  };
  try {
    // An intruder's client certificate (another CA).
    expect(await tryClient({ ca: fx('ca.crt'), cert: fx('intruder.crt'), key: fx('intruder.key') })).toMatch(
      /^refused/,
    );
    // No client certificate at all.
    expect(await tryClient({ ca: fx('ca.crt') })).toMatch(/^refused/);
    // The client does not trust the server's CA.
    expect(
      await tryClient({ ca: fx('other-ca.crt'), cert: fx('client.crt'), key: fx('client.key') }),
    ).toMatch(/^refused/);
    expect(events).toEqual([]);
    // The right certificates still work: the server survived.
    expect(await tryClient({ ca: fx('ca.crt'), cert: fx('client.crt'), key: fx('client.key') })).toBe('in');
  } finally {
    await server.close();
    await drain;
  }
});
