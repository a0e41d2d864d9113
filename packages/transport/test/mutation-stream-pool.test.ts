// The mutation stream client over @tributary/pool: back-pressure in bytes (the resend buffer is
// bounded, a slow server makes send() and sendMany() wait), and failover through the pool with a
// chaos proxy between client and server (links reset, new ones refused for a while): the lanes
// take new connections from the pool with backoff, resend what was not acknowledged, and every
// mutation arrives exactly once, in order per vbucket.
import { startChaosProxy } from '@tributary/chaos-proxy';
import { createTcpFactory } from '@tributary/connection-tcp';
import { createPool } from '@tributary/pool';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMutationStreamClient,
  createMutationStreamServer,
  type Mutation,
  type MutationStreamServer,
} from '../src/index.js';
import { LOCAL, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

function mut(vbucket: number, seqno: number, value: Buffer): Mutation {
  return {
    vbucket,
    seqno,
    vbuuid: 0xfeedn,
    key: Buffer.from(`k-${vbucket}-${seqno}`),
    value,
    kind: 'mutation',
    cas: BigInt(seqno),
    flags: 0,
    expiry: 0,
  };
}

async function startServer(maxQueuedEvents?: number) {
  const server = createMutationStreamServer({
    listen: LOCAL,
    factory: createTcpFactory(),
    maxQueuedEvents,
    settings: { heartbeatMs: 200 },
  });
  const endpoint = await server.start();
  cleanups.push(() => server.close());
  return { server, endpoint };
}

function collect(server: MutationStreamServer) {
  const seqnos = new Map<number, number[]>();
  const errors: string[] = [];
  let total = 0;
  (async () => {
    for await (const ev of server) {
      if (ev.type === 'batch') {
        let l = seqnos.get(ev.vbucket);
        if (!l) seqnos.set(ev.vbucket, (l = []));
        for (const m of ev.mutations) l.push(m.seqno);
        total += ev.mutations.length;
      } else if (ev.type === 'error') errors.push(ev.error.code);
    }
  })();
  return {
    seqnos,
    errors,
    get total() {
      return total;
    },
  };
}

describe('mutation stream client: back-pressure in bytes', () => {
  it('holds at most maxBufferedBytes unacknowledged; send() and sendMany() wait, then everything arrives', async () => {
    // The server's application does not read: its queue fills, it stops reading, TCP fills.
    const { server, endpoint } = await startServer(1);
    const RING = 64 * 1024;
    const c = createMutationStreamClient({
      endpoint,
      factory: createTcpFactory(),
      maxBufferedBytes: RING,
      settings: { heartbeatMs: 200 },
    });
    cleanups.push(() => c.close({ drain: false }));
    await c.connect();
    // Acknowledged only once the application takes it: not awaited here.
    const begun = c.beginVbucket(0, 0xfeedn);
    const value = Buffer.alloc(2048, 7);
    let settled = 0;
    const singles = Array.from({ length: 500 }, (_, i) =>
      c.send(mut(0, i + 1, value)).then(() => {
        settled++;
      }),
    );
    const batch = Array.from({ length: 1500 }, (_, i) => mut(0, 501 + i, value));
    const many = c.sendMany(batch).then(() => {
      settled++;
    });
    // Wait until the client has written all it may: its ring is full and nothing more is taken.
    await waitFor(() => c.stats().bufferedBytes > RING - 2 * (value.length + 100), 'ring full');
    const st = c.stats();
    expect(st.bufferedBytes).toBeLessThanOrEqual(RING);
    // 2 000 mutations of 2 KiB (4 MiB) were offered; only what fits 64 KiB is held or written.
    expect(st.sent).toBeLessThanOrEqual(Math.ceil(RING / value.length) + 1);
    expect(st.acked).toBeLessThan(50);
    expect(c.inFlight).toBeGreaterThan(1900);
    expect(settled).toBeLessThan(50);
    const got = collect(server);
    await Promise.all([begun, ...singles, many]);
    expect(got.seqnos.get(0)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(c.stats().bufferedBytes).toBe(0);
  });

  it('refuses a mutation bigger than the resend buffer (or the peer frame limit) without counting its seqno, and a sendMany with one out of order sends none', async () => {
    const { server, endpoint } = await startServer();
    const got = collect(server);
    const c = createMutationStreamClient({
      endpoint,
      factory: createTcpFactory(),
      maxBufferedBytes: 64 * 1024,
    });
    cleanups.push(() => c.close());
    await c.beginVbucket(1, 0xfeedn);
    await expect(c.send(mut(1, 1, Buffer.alloc(70 * 1024)))).rejects.toMatchObject({
      code: 'TRIB_INVALID_ARGUMENT',
    });
    // Bigger than the server's 1 MiB frame limit: refused here, the seqno not taken.
    const d = createMutationStreamClient({ endpoint, factory: createTcpFactory() });
    cleanups.push(() => d.close());
    await d.beginVbucket(2, 0xfeedn);
    await expect(d.send(mut(2, 1, Buffer.alloc(1024 * 1024 + 1)))).rejects.toMatchObject({
      code: 'TRIB_INVALID_ARGUMENT',
    });
    await d.send(mut(2, 1, Buffer.from('fits')));
    await expect(
      c.sendMany([mut(1, 2, Buffer.from('a')), mut(1, 2, Buffer.from('b'))]),
    ).rejects.toMatchObject({
      code: 'TRIB_MSTREAM_ORDER',
    });
    await c.sendMany([mut(1, 1, Buffer.from('a')), mut(1, 2, Buffer.from('b'))]);
    await waitFor(() => got.total === 3, 'three mutations');
    expect(got.seqnos.get(1)).toEqual([1, 2]);
    expect(got.seqnos.get(2)).toEqual([1]);
    expect(got.errors).toEqual([]);
  });
});

describe('mutation stream client: failover through the pool (chaos proxy)', () => {
  it('replaces reset connections through the pool with backoff; nothing lost, duplicated or reordered', async () => {
    const { server, endpoint } = await startServer();
    const got = collect(server);
    const proxy = await startChaosProxy({ target: endpoint });
    cleanups.push(() => proxy.close());
    const factory = createTcpFactory();
    // A pool passed in: the client takes its 4 connections from it and leaves it open at close.
    const pool = createPool({
      factory,
      endpoint: proxy.address(),
      max: 8,
      acquireTimeoutMs: 0,
      idleTimeoutMs: 0,
    });
    cleanups.push(() => pool.close({ drain: false }));
    const errors: string[] = [];
    const c = createMutationStreamClient({
      endpoint: proxy.address(),
      factory,
      pool,
      connections: 4,
      backoff: { startMs: 5, maxMs: 50 },
      settings: { heartbeatMs: 200 },
      onError: (e) => errors.push(e.code),
    });
    cleanups.push(() => c.close({ drain: false }));
    await c.connect();
    expect(pool.stats().inUse).toBe(4);
    const VB = 16;
    const PER = 3000;
    await Promise.all(Array.from({ length: VB }, (_, vb) => c.beginVbucket(vb, 0xfeedn)));
    const value = Buffer.alloc(100, 1);
    const sends: Promise<void>[] = [];
    let s = 1;
    const chunk = async (upTo: number) => {
      for (; s <= upTo; s++) {
        const b: Mutation[] = [];
        for (let vb = 0; vb < VB; vb++) b.push(mut(vb, s, value));
        sends.push(c.sendMany(b));
      }
      c.flush();
    };
    await chunk(1000);
    await waitFor(() => got.total > 2000, 'some delivered');
    // Every link reset mid-stream, and new ones refused until a refused attempt was seen.
    const attempts = () => pool.stats().created + pool.stats().creationErrors;
    const before = attempts();
    proxy.refuseNew();
    expect(proxy.reset()).toBe(4);
    await chunk(2000); // sent while the connections are down: held in the resend buffers
    // The lanes keep asking the pool for connections, which the proxy refuses: backoff, again.
    await waitFor(() => attempts() >= before + 8, 'reconnects refused and retried');
    proxy.resume();
    await chunk(PER);
    await Promise.all(sends);
    await waitFor(() => got.total >= VB * PER, 'every mutation');
    for (let vb = 0; vb < VB; vb++)
      expect(got.seqnos.get(vb)).toEqual(Array.from({ length: PER }, (_, i) => i + 1));
    const st = c.stats();
    expect(st.reconnects).toBeGreaterThanOrEqual(4);
    expect(st.resent).toBeGreaterThan(0);
    expect(st.acked).toBe(VB * PER + VB);
    expect(st.connected).toBe(4);
    // The pool made the replacements and threw the dead ones away.
    const ps = pool.stats();
    expect(ps.created).toBeGreaterThan(8);
    expect(ps.destroyed).toBeGreaterThanOrEqual(ps.created - 4);
    expect(ps.inUse).toBe(4);
    expect(errors.length).toBeGreaterThan(0);
    await c.close();
    expect(pool.closed).toBe(false);
    expect(pool.stats().inUse).toBe(0);
  });

  it('the client owns a pool when none is given and closes it with itself', async () => {
    const { server, endpoint } = await startServer();
    collect(server);
    const c = createMutationStreamClient({ endpoint, factory: createTcpFactory(), connections: 2 });
    await c.connect();
    expect(c.pool.stats()).toMatchObject({ inUse: 2, created: 2 });
    c.dropConnection(1);
    await c.beginVbucket(1, 1n); // lane 1: waits for its new connection
    expect(c.pool.stats()).toMatchObject({ inUse: 2, created: 3, destroyed: 1 });
    await c.close();
    expect(c.pool.closed).toBe(true);
  });
});
