import { createTlsFactory } from '@tributary/connection-tls';
import { isTributaryError } from '@tributary/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool } from '../src/index.js';
import { failure, ping, TrackingServer, tlsFixtures, until } from './helpers.js';

const serverSide = createTlsFactory({ cert: tlsFixtures.cert(), key: tlsFixtures.key() });
const clientSide = createTlsFactory({ ca: tlsFixtures.ca(), connectTimeoutMs: 2_000 });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('pool over TLS', () => {
  it('many acquirers over TLS: max respected at every instant, every connection secure', async () => {
    const server = await new TrackingServer(serverSide).start();
    const pool = createPool({ factory: clientSide, endpoint: server.endpoint, max: 3 });
    cleanup.push(
      () => server.close(),
      () => pool.close({ drain: false }),
    );
    let inUse = 0;
    let peak = 0;
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        pool.use(async (c) => {
          expect(c.secure).toBe(true);
          peak = Math.max(peak, ++inUse);
          const r = await ping(c, `t${i}`);
          inUse--;
          return r;
        }),
      ),
    );
    expect(replies).toEqual(Array.from({ length: 30 }, (_, i) => `t${i}`));
    expect(peak).toBe(3);
    expect(server.peak).toBeLessThanOrEqual(3);
  });

  it('a TLS server that dies and comes back', async () => {
    const server = await new TrackingServer(serverSide).start();
    const endpoint = server.endpoint;
    const pool = createPool({
      factory: clientSide,
      endpoint,
      max: 2,
      min: 1,
      backoff: { startMs: 10, factor: 2, maxMs: 50 },
    });
    cleanup.push(() => pool.close({ drain: false }));
    await until(() => pool.stats().idle === 1, 'min connection');
    await until(() => server.open.size === 1, 'the server to have the connection too');
    await server.kill();
    await until(() => pool.stats().size === 0, 'dead connection dropped');
    expect(isTributaryError(await failure(() => pool.acquire()), 'TRIB_CONNECT_REFUSED')).toBe(true);
    const again = await new TrackingServer(serverSide).start(endpoint);
    cleanup.push(() => again.close());
    const g = await (async () => {
      await until(() => pool.stats().idle >= 1, 'reconnect');
      return pool.acquire();
    })();
    expect(await ping(g.connection, 'tls back')).toBe('tls back');
    g.release();
  });

  it('drains on close over TLS', async () => {
    const server = await new TrackingServer(serverSide).start();
    const pool = createPool({ factory: clientSide, endpoint: server.endpoint, max: 2, idleTimeoutMs: 50 });
    cleanup.push(() => server.close());
    const a = await pool.acquire();
    const b = await pool.acquire();
    const closing = pool.close({ drain: true });
    a.release();
    expect(pool.closed).toBe(false);
    b.release();
    await closing;
    expect(pool.closed).toBe(true);
    await until(() => server.open.size === 0, 'server sees all closed');
  });
});
