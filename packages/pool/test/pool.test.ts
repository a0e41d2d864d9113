import { Writable } from 'node:stream';
import { createTcpFactory } from '@tributary/connection-tcp';
import { createLogger, isTributaryError } from '@tributary/core';
import { createMetrics } from '@tributary/metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { failure, ping, TrackingServer, until } from './helpers.js';

const tcp = createTcpFactory({ connectTimeoutMs: 2_000 });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(options: Partial<Parameters<typeof createPool>[0]> = {}) {
  const server = await new TrackingServer(tcp).start();
  const pool = createPool({ factory: tcp, endpoint: server.endpoint, max: 4, ...options });
  cleanup.push(
    () => server.close(),
    () => pool.close({ drain: false }),
  );
  return { server, pool };
}

describe('pool over TCP', () => {
  it('lends a working connection and reuses it after release', async () => {
    const { pool, server } = await setup();
    const g1 = await pool.acquire();
    expect(await ping(g1.connection)).toBe('ping');
    const first = g1.connection;
    g1.release();
    const g2 = await pool.acquire();
    expect(g2.connection).toBe(first);
    g2.release();
    expect(pool.stats()).toMatchObject({ size: 1, idle: 1, inUse: 0, created: 1, acquired: 2, released: 2 });
    expect(server.accepted).toBe(1);
  });

  it('many acquirers: max is respected at every instant, on both sides, and everyone is served', async () => {
    const { pool, server } = await setup({ max: 5 });
    let inUse = 0;
    let peak = 0;
    const work = Array.from({ length: 60 }, (_, i) =>
      pool.use(async (c) => {
        inUse++;
        peak = Math.max(peak, inUse);
        expect(pool.stats().inUse).toBeLessThanOrEqual(5);
        expect(pool.stats().size + pool.stats().pending).toBeLessThanOrEqual(5);
        const reply = await ping(c, `m${i}`);
        inUse--;
        return reply;
      }),
    );
    const replies = await Promise.all(work);
    expect(replies).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`));
    expect(peak).toBe(5);
    expect(server.peak).toBeLessThanOrEqual(5);
    expect(pool.stats().created).toBeLessThanOrEqual(5);
  });

  it('serves waiters in FIFO order', async () => {
    const { pool } = await setup({ max: 1 });
    const holder = await pool.acquire();
    const order: number[] = [];
    const waiters = Array.from({ length: 8 }, (_, i) =>
      pool.acquire().then((g) => {
        order.push(i);
        g.release();
      }),
    );
    await until(() => pool.stats().waiting === 8, '8 waiters');
    holder.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('acquire times out with TRIB_POOL_TIMEOUT and counts it', async () => {
    const { pool } = await setup({ max: 1, acquireTimeoutMs: 100 });
    const g = await pool.acquire();
    const err = await failure(() => pool.acquire());
    expect(isTributaryError(err, 'TRIB_POOL_TIMEOUT')).toBe(true);
    expect(pool.stats()).toMatchObject({ timeouts: 1, waiting: 0 });
    g.release();
  });

  it('abort while waiting rejects with TRIB_ABORTED and leaves the queue', async () => {
    const { pool } = await setup({ max: 1 });
    const g = await pool.acquire();
    const ac = new AbortController();
    const p = pool.acquire({ signal: ac.signal });
    const later = pool.acquire();
    await until(() => pool.stats().waiting === 2, 'two waiters');
    ac.abort();
    expect(isTributaryError(await failure(() => p), 'TRIB_ABORTED')).toBe(true);
    expect(pool.stats().waiting).toBe(1);
    g.release();
    const g2 = await later; // the next waiter, not the aborted one, got it
    expect(g2.connection).toBe(g.connection);
    g2.release();
    expect(
      isTributaryError(await failure(() => pool.acquire({ signal: AbortSignal.abort() })), 'TRIB_ABORTED'),
    ).toBe(true);
  });

  it('refuses beyond maxWaiting with TRIB_POOL_QUEUE_FULL', async () => {
    const { pool } = await setup({ max: 1, maxWaiting: 2 });
    const g = await pool.acquire();
    const a = pool.acquire();
    const b = pool.acquire();
    expect(isTributaryError(await failure(() => pool.acquire()), 'TRIB_POOL_QUEUE_FULL')).toBe(true);
    g.release();
    (await a).release();
    (await b).release();
    expect(pool.stats().queueFull).toBe(1);
  });

  it('evicts idle connections after idleTimeoutMs, keeping min', async () => {
    const { pool, server } = await setup({ max: 4, min: 1, idleTimeoutMs: 80 });
    const guards = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const g of guards) g.release();
    expect(pool.stats().idle).toBe(3);
    await until(() => pool.stats().size === 1, 'eviction down to min');
    await until(() => server.open.size === 1, 'server to see the evicted connections close');
    expect(pool.stats().evicted).toBe(2);
  });

  it('keeps min connections open and re-creates them in the background', async () => {
    const { pool, server } = await setup({ min: 2, backoff: { startMs: 10, factor: 2, maxMs: 100 } });
    await until(() => pool.stats().idle === 2, 'min connections');
    await until(() => server.open.size === 2, 'the server to have both');
    for (const c of server.open) c.destroy();
    await until(() => pool.stats().created >= 4 && pool.stats().idle === 2, 're-created min connections');
    expect(server.open.size).toBe(2);
  });

  it('a server that dies and comes back: callers get the creation error, then connections again', async () => {
    const server = await new TrackingServer(tcp).start();
    const endpoint = server.endpoint;
    const errors: unknown[] = [];
    const pool = createPool({
      factory: tcp,
      endpoint,
      max: 2,
      min: 1,
      backoff: { startMs: 10, factor: 2, maxMs: 50 },
      onError: (e) => errors.push(e),
    });
    cleanup.push(() => pool.close({ drain: false }));
    await until(() => pool.stats().idle === 1, 'initial min connection');
    await until(() => server.open.size === 1, 'the server to have the connection too');
    await server.kill();
    await until(() => pool.stats().size === 0, 'pool to notice the dead connection');
    // The creation error reaches the caller, typed.
    const err = await failure(() => pool.acquire());
    expect(isTributaryError(err, 'TRIB_CONNECT_REFUSED')).toBe(true);
    expect(pool.stats().creationErrors).toBeGreaterThan(0);
    await until(() => errors.length > 0, 'background min errors reported');
    // Back on the same port.
    const again = await new TrackingServer(tcp).start(endpoint);
    cleanup.push(() => again.close());
    await until(() => pool.stats().idle >= 1, 'min loop to reconnect');
    const g = await pool.acquire();
    expect(await ping(g.connection, 'back')).toBe('back');
    g.release();
  });

  it('a connection that dies while idle is never handed out', async () => {
    const { pool, server } = await setup();
    const g = await pool.acquire();
    const first = g.connection;
    g.release();
    for (const c of server.open) c.destroy();
    await until(() => pool.stats().size === 0, 'idle connection dropped');
    const g2 = await pool.acquire();
    expect(g2.connection).not.toBe(first);
    expect(await ping(g2.connection)).toBe('ping');
    g2.release();
  });

  it('a connection failing its health check is destroyed and the caller gets a fresh one', async () => {
    let healthy = true;
    const { pool } = await setup({ healthCheck: async () => healthy });
    const g = await pool.acquire();
    const first = g.connection;
    g.release();
    healthy = false;
    const acquiring = pool.acquire();
    await until(() => pool.stats().healthCheckFailures === 1, 'health check failure');
    healthy = true;
    const g2 = await acquiring;
    expect(g2.connection).not.toBe(first);
    expect(first.destroyed).toBe(true);
    g2.release();
  });

  it('a throwing health check counts as failed', async () => {
    const { pool } = await setup({
      healthCheck: (c) => {
        if ((c as unknown as { bad?: boolean }).bad) throw new Error('bad');
        return true;
      },
    });
    const g = await pool.acquire();
    (g.connection as unknown as { bad: boolean }).bad = true;
    g.release();
    const g2 = await pool.acquire();
    expect(pool.stats().healthCheckFailures).toBe(1);
    g2.release();
  });

  it('onCreate errors reach the waiting caller', async () => {
    const { pool } = await setup({
      onCreate: async () => {
        throw new Error('handshake refused');
      },
    });
    const err = await failure(() => pool.acquire());
    expect((err as Error).message).toBe('handshake refused');
    expect(pool.stats()).toMatchObject({ size: 0, creationErrors: 1 });
  });

  it('releasing twice is a warned no-op, not a double return', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk, _e, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    });
    const { pool } = await setup({ logger });
    const g = await pool.acquire();
    g.release();
    g.release();
    await g[Symbol.asyncDispose]();
    g.destroy();
    expect(pool.stats()).toMatchObject({ idle: 1, released: 1, doubleReleases: 2, size: 1 });
    await until(() => lines.length >= 2, 'warnings');
    expect(lines[0]).toMatch(/already given back/);
    // The pool still lends it only once.
    const [a, b] = [await pool.acquire(), await pool.acquire()];
    expect(a.connection).not.toBe(b.connection);
    a.release();
    b.release();
  });

  it('await using releases the guard at the end of the block', async () => {
    const { pool } = await setup();
    {
      await using guard = await pool.acquire();
      expect(await ping(guard.connection)).toBe('ping');
      expect(pool.stats().inUse).toBe(1);
    }
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('use() releases on success and destroys on a throw', async () => {
    const { pool } = await setup();
    expect(await pool.use((c) => ping(c, 'x'))).toBe('x');
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0 });
    const err = await failure(() =>
      pool.use(() => {
        throw new Error('protocol error');
      }),
    );
    expect((err as Error).message).toBe('protocol error');
    expect(pool.stats()).toMatchObject({ size: 0, destroyed: 1 });
  });

  it('guard.destroy() removes the connection and lets a waiter get a new one', async () => {
    const { pool } = await setup({ max: 1 });
    const g = await pool.acquire();
    const waiting = pool.acquire();
    g.destroy();
    const g2 = await waiting;
    expect(g2.connection).not.toBe(g.connection);
    expect(g.connection.destroyed).toBe(true);
    g2.release();
  });

  it('close({ drain: true }) refuses new acquires, serves waiters, waits for loans, then closes all', async () => {
    const { pool, server } = await setup({ max: 1 });
    const g = await pool.acquire();
    const waiter = pool.acquire();
    await until(() => pool.stats().waiting === 1, 'a waiter');
    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    expect(isTributaryError(await failure(() => pool.acquire()), 'TRIB_POOL_CLOSED')).toBe(true);
    g.release();
    const g2 = await waiter; // still served
    expect(await ping(g2.connection)).toBe('ping');
    expect(closed).toBe(false);
    g2.release();
    await closing;
    expect(pool.stats()).toMatchObject({ size: 0, idle: 0, inUse: 0 });
    await until(() => server.open.size === 0, 'server to see every connection close');
    await pool.close(); // idempotent
  });

  it('close({ drain: false }) rejects waiters and destroys everything now', async () => {
    const { pool } = await setup({ max: 1 });
    const g = await pool.acquire();
    const waiter = pool.acquire();
    await pool.close({ drain: false });
    expect(isTributaryError(await failure(() => waiter), 'TRIB_POOL_CLOSED')).toBe(true);
    expect(g.connection.destroyed).toBe(true);
    g.release(); // harmless
    expect(pool.stats().size).toBe(0);
  });

  it('reports through @tributary/metrics', async () => {
    const metrics = createMetrics();
    const { pool } = await setup({ metrics, name: 'pool-test' });
    const g = await pool.acquire();
    const key = Object.keys(metrics.snapshot()).find((k) => k.startsWith('pool{'))!;
    expect(key).toMatch(/^pool\{endpoint="127\.0\.0\.1:\d+",pool="pool-test"\}$/);
    const snap = metrics.snapshot()[key]!;
    expect(snap.gauges).toMatchObject({ size: 1, in_use: 1, idle: 0 });
    expect(snap.counters).toMatchObject({ created: 1, acquired: 1 });
    g.release();
    expect(metrics.snapshot()[key]!.gauges).toMatchObject({ in_use: 0, idle: 1 });
  });

  it('validates options', () => {
    expect(() => createPool({ factory: tcp, endpoint: { host: 'x', port: 1 }, max: 0 })).toThrow(/max/);
    expect(() => createPool({ factory: tcp, endpoint: { host: 'x', port: 1 }, max: 1, min: 2 })).toThrow(
      /min/,
    );
  });
});

export type { Pool };
