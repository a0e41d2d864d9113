import net from 'node:net';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { ConnectionFactory } from '@tributary/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMutationStreamClient,
  createMutationStreamServer,
  createTransport,
  type Mutation,
  type MutationStreamClient,
  type MutationStreamEvent,
  type MutationStreamServer,
} from '../src/index.js';
import {
  ackType,
  ControlOp,
  controlType,
  encodeControl,
  encodeMutation,
  MSTREAM_VERSION,
  mutationType,
  nackType,
} from '../src/internal/mutation-wire.js';
import { factories, LOCAL, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

function mut(vbucket: number, seqno: number, vbuuid = 0xabcn): Mutation {
  return {
    vbucket,
    seqno,
    vbuuid,
    key: Buffer.from(`k-${vbucket}-${seqno}`),
    value: Buffer.from(`v-${seqno}`),
    kind: seqno % 10 === 0 ? 'deletion' : 'mutation',
    cas: BigInt(seqno) * 1000n,
    flags: 7,
    expiry: 0,
  };
}

async function startServer(factory: ConnectionFactory, opts: { maxQueuedEvents?: number } = {}) {
  const server = createMutationStreamServer({
    listen: LOCAL,
    factory,
    ...opts,
    settings: { heartbeatMs: 200 },
  });
  const endpoint = await server.start();
  cleanups.push(() => server.close());
  return { server, endpoint };
}

function client(
  factory: ConnectionFactory,
  endpoint: { host: string; port: number },
  connections: number,
  extra = {},
) {
  const c = createMutationStreamClient({
    endpoint,
    factory,
    connections,
    flushIntervalMs: 0,
    backoff: { startMs: 5, maxMs: 100 },
    settings: { heartbeatMs: 200 },
    ...extra,
  });
  cleanups.push(() => c.close({ drain: false }));
  return c;
}

/** Collects events from the server's iterator until `until` says stop. */
function collect(server: MutationStreamServer) {
  const seqnos = new Map<number, number[]>();
  const events: MutationStreamEvent[] = [];
  const errors: MutationStreamEvent[] = [];
  let total = 0;
  const done = (async () => {
    for await (const ev of server) {
      if (ev.type === 'batch') {
        let l = seqnos.get(ev.vbucket);
        if (!l) seqnos.set(ev.vbucket, (l = []));
        for (const m of ev.mutations) {
          expect(m.vbucket).toBe(ev.vbucket);
          l.push(m.seqno);
        }
        total += ev.mutations.length;
      } else if (ev.type === 'error') errors.push(ev);
      else events.push(ev);
    }
  })();
  return {
    seqnos,
    events,
    errors,
    get total() {
      return total;
    },
    done,
  };
}

async function sendAll(
  c: MutationStreamClient,
  vbuckets: number,
  perVb: number,
  between?: (i: number) => void,
) {
  await Promise.all(Array.from({ length: vbuckets }, (_, vb) => c.beginVbucket(vb, 0xabcn)));
  const acks: Promise<void>[] = [];
  for (let s = 1; s <= perVb; s++) {
    between?.(s);
    for (let vb = 0; vb < vbuckets; vb++) acks.push(c.send(mut(vb, s)));
    if (s % 50 === 0) await Promise.all(acks.splice(0));
  }
  await Promise.all(acks);
}

describe.each([1, 4, 16])('mutation stream, n = %i connections', (n) => {
  it.each(['tcp', 'tls'] as const)('keeps per-vbucket order over %s', async (kind) => {
    const factory = factories[kind]();
    const { server, endpoint } = await startServer(factory);
    const got = collect(server);
    const c = client(factory, endpoint, n);
    await c.connect();
    expect(c.stats().connected).toBe(n);
    const VB = 32;
    const PER = 150;
    await sendAll(c, VB, PER);
    await waitFor(() => got.total === VB * PER, 'every mutation');
    for (let vb = 0; vb < VB; vb++)
      expect(got.seqnos.get(vb)).toEqual(Array.from({ length: PER }, (_, i) => i + 1));
    // Each vbucket is pinned to one connection.
    expect(new Set(Array.from({ length: VB }, (_, vb) => c.connectionFor(vb))).size).toBe(Math.min(n, VB));
    expect(got.events.filter((e) => e.type === 'begin')).toHaveLength(VB);
    expect(got.errors).toEqual([]);
    expect(server.stats().mutationsDelivered).toBe(VB * PER);
  });
});

describe('mutation stream: faults', () => {
  it.each(['tcp', 'tls'] as const)(
    'reconnection mid-stream over %s loses nothing and duplicates nothing (checked by seqno)',
    async (kind) => {
      const factory = factories[kind]();
      const { server, endpoint } = await startServer(factory);
      const got = collect(server);
      const c = client(factory, endpoint, 4);
      await c.connect();
      const VB = 16;
      const PER = 1500;
      let drops = 0;
      await sendAll(c, VB, PER, (s) => {
        if (s % 250 === 125) {
          // Written to the socket and not acknowledged yet: these are what the new connection resends.
          c.flush();
          c.dropConnection(drops % 4);
          drops++;
        }
      });
      await waitFor(() => got.total >= VB * PER, 'every mutation');
      for (let vb = 0; vb < VB; vb++)
        expect(got.seqnos.get(vb)).toEqual(Array.from({ length: PER }, (_, i) => i + 1));
      const st = c.stats();
      expect(st.reconnects).toBeGreaterThanOrEqual(drops);
      expect(st.resent).toBeGreaterThan(0);
      expect(st.acked).toBe(VB * PER + VB);
      // The server told the application about each lost connection, and nothing else went wrong.
      await waitFor(() => got.errors.length >= 1, 'connection lost events');
      expect(new Set(got.errors.map((e) => (e.type === 'error' ? e.error.code : '')))).toEqual(
        new Set(['TRIB_MSTREAM_CONNECTION_LOST']),
      );
    },
  );

  it('publishes a gap, a vbucket not begun and refuses them to the sender', async () => {
    const factory = createTcpFactory();
    const { server, endpoint } = await startServer(factory);
    const got = collect(server);
    // A hand-driven peer: the real client never produces a gap, so speak the wire directly.
    const t = createTransport(await factory.connect(endpoint), {
      version: MSTREAM_VERSION,
      settings: { heartbeatMs: 200 },
    });
    cleanups.push(() => t.close());
    const nacks: string[] = [];
    t.subscribe(mutationType)
      .subscribe(controlType)
      .subscribe(ackType, () => {});
    t.subscribe(nackType, (n) => {
      nacks.push(`${n.msn}:${n.code}`);
    });
    await t.handshake();
    await t.post(
      controlType,
      encodeControl({ msn: 1, vbucket: 5, op: ControlOp.Begin, vbuuid: 0xabcn, a: 0, b: 0, flags: 0 }),
    );
    await t.post(mutationType, encodeMutation(2, 0, mut(5, 1)));
    await t.post(mutationType, encodeMutation(3, 3, mut(5, 5))); // follows 3, but the server has 1
    await t.post(mutationType, encodeMutation(4, 0, mut(9, 1))); // vbucket 9 never begun
    await waitFor(() => got.errors.length === 2 && nacks.length === 2, 'two refusals');
    expect(got.errors.map((e) => (e.type === 'error' ? `${e.vbucket}:${e.error.code}` : ''))).toEqual([
      '5:TRIB_MSTREAM_GAP',
      '9:TRIB_MSTREAM_NOT_BEGUN',
    ]);
    expect(nacks).toEqual(['3:TRIB_MSTREAM_GAP', '4:TRIB_MSTREAM_NOT_BEGUN']);
    expect(got.seqnos.get(5)).toEqual([1]);

    // The client API surfaces the same refusal on send().
    const c = client(factory, endpoint, 2);
    await c.connect();
    await expect(c.send(mut(11, 1))).rejects.toMatchObject({ code: 'TRIB_MSTREAM_NOT_BEGUN' });
    await c.beginVbucket(11, 0xabcn);
    await c.send(mut(11, 1));
    await expect(c.send(mut(11, 1))).rejects.toMatchObject({ code: 'TRIB_MSTREAM_ORDER' });
    await c.snapshot(11, 2, 3);
    await c.send(mut(11, 2));
    await c.endVbucket(11);
    await expect(c.send(mut(11, 3))).rejects.toMatchObject({ code: 'TRIB_MSTREAM_NOT_BEGUN' });
    await waitFor(() => got.events.some((e) => e.type === 'end' && e.vbucket === 11), 'end event');
    expect(got.events.filter((e) => e.vbucket === 11).map((e) => e.type)).toEqual([
      'begin',
      'snapshot',
      'end',
    ]);
    expect(got.seqnos.get(11)).toEqual([1, 2]);
  });

  it('a failed handshake and a lost connection are published; a malformed frame closes only that connection', async () => {
    const factory = createTcpFactory();
    const { server, endpoint } = await startServer(factory);
    const got = collect(server);
    const good = client(factory, endpoint, 1);
    await good.connect();
    await good.beginVbucket(1, 1n);

    // 1. Wrong protocol version.
    const bad = createTransport(await factory.connect(endpoint), { version: 'someone-else/9' });
    cleanups.push(() => bad.close());
    await expect(bad.handshake()).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_VERSION_MISMATCH' });
    await waitFor(() => got.errors.length === 1, 'handshake error');

    // 2. Garbage after a good handshake.
    const raw = createTransport(await factory.connect(endpoint), { version: MSTREAM_VERSION });
    cleanups.push(() => raw.close());
    await raw.handshake();
    raw.connection.write(Buffer.from('\x00\x01garbage that is not a frame at all'));
    await waitFor(() => got.errors.length === 2, 'bad frame error');

    // 3. A connection dropped without goodbye.
    const lost = createTransport(await factory.connect(endpoint), { version: MSTREAM_VERSION });
    await lost.handshake();
    lost.destroy();
    await waitFor(() => got.errors.length === 3, 'connection lost error');

    // 4. A well-framed but malformed message.
    const worse = createTransport(await factory.connect(endpoint), { version: MSTREAM_VERSION });
    cleanups.push(() => worse.close());
    worse.subscribe(mutationType);
    await worse.handshake();
    await worse.post(mutationType, Buffer.from('short'));
    await waitFor(() => got.errors.length === 4, 'malformed message error');

    // 5. Garbage instead of a hello.
    const rawSocket = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(endpoint.port, endpoint.host, () => resolve(s));
    });
    rawSocket.on('error', () => {});
    rawSocket.write(Buffer.alloc(32, 0x47));
    await waitFor(() => got.errors.length === 5, 'garbage hello error');

    expect(got.errors.map((e) => (e.type === 'error' ? e.error.code : ''))).toEqual([
      'TRIB_MSTREAM_HANDSHAKE_FAILED',
      'TRIB_MSTREAM_BAD_FRAME',
      'TRIB_MSTREAM_CONNECTION_LOST',
      'TRIB_MSTREAM_BAD_FRAME',
      'TRIB_MSTREAM_BAD_FRAME',
    ]);
    expect(server.stats().malformedFrames).toBe(3);
    // Exactly one event each: nothing published twice.
    await new Promise((r) => setTimeout(r, 50));
    expect(got.errors).toHaveLength(5);
    // The well-behaved client was never disturbed.
    for (let s = 1; s <= 100; s++) await good.send(mut(1, s, 1n));
    await waitFor(() => got.seqnos.get(1)?.length === 100, 'good client still served');
    expect(good.stats().reconnects).toBe(0);
  });

  it('a slow consumer slows the producer (bounded queues end to end), then everything arrives', async () => {
    const factory = createTcpFactory();
    const { server, endpoint } = await startServer(factory, { maxQueuedEvents: 4 });
    const c = client(factory, endpoint, 1, { maxInFlight: 500, maxWaiting: 100_000 });
    await c.connect();
    const acks: Promise<void>[] = [c.beginVbucket(0, 1n)];
    const big = Buffer.alloc(2048, 1);
    for (let s = 1; s <= 5000; s++) acks.push(c.send({ ...mut(0, s, 1n), value: big }));
    await waitFor(() => server.stats().queued >= 4, 'server queue full');
    await new Promise((r) => setTimeout(r, 100));
    // Nobody consumed: only a bounded amount is in flight.
    expect(c.stats().acked).toBe(0);
    expect(c.inFlight).toBe(5001);
    expect(c.stats().sent).toBeLessThanOrEqual(500);
    expect(server.stats().queued).toBeLessThan(100);
    const got = collect(server);
    await Promise.all(acks);
    expect(got.seqnos.get(0)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
  });

  it('the event-emitter adapter sees the same events', async () => {
    const factory = createTcpFactory();
    const { server, endpoint } = await startServer(factory);
    const em = server.toEventEmitter();
    const seen: string[] = [];
    em.on('begin', (e) => seen.push(`begin ${e.vbucket}`));
    em.on('batch', (e) => {
      for (const m of e.mutations) seen.push(`m ${m.vbucket}:${m.seqno}:${m.key.toString()}:${m.kind}`);
    });
    const c = client(factory, endpoint, 1);
    // No connect(): the first send connects.
    await c.beginVbucket(3, 9n);
    await c.send(mut(3, 1, 9n));
    await c.send(mut(3, 10, 9n));
    expect(seen).toEqual(['begin 3', 'm 3:1:k-3-1:mutation', 'm 3:10:k-3-10:deletion']);
  });

  it('close() drains what is in flight and refuses new work', async () => {
    const factory = createTcpFactory();
    const { server, endpoint } = await startServer(factory);
    const got = collect(server);
    const c = client(factory, endpoint, 2);
    await c.connect();
    await c.beginVbucket(0, 1n);
    const acks = Array.from({ length: 500 }, (_, i) => c.send(mut(0, i + 1, 1n)));
    await c.close();
    await Promise.all(acks);
    expect(got.seqnos.get(0)).toHaveLength(500);
    await expect(c.send(mut(0, 501, 1n))).rejects.toMatchObject({ code: 'TRIB_MSTREAM_CLOSED' });
    // A goodbye is not a lost connection.
    await new Promise((r) => setTimeout(r, 50));
    expect(got.errors).toEqual([]);
  });

  it('keeps retrying to connect until the server appears', async () => {
    const factory = createTcpFactory();
    // Find a free port, then start the server on it only after the client began trying.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = client(factory, { host: '127.0.0.1', port }, 1);
    const connected = c.connect();
    const begun = c.beginVbucket(0, 1n);
    await waitFor(() => c.stats().sent === 0 && c.inFlight === 1, 'begin queued while disconnected');
    await new Promise((r) => setTimeout(r, 100));
    const server = createMutationStreamServer({
      listen: { host: '127.0.0.1', port },
      factory,
      settings: { heartbeatMs: 200 },
    });
    await server.start();
    cleanups.push(() => server.close());
    const got = collect(server);
    await connected;
    await begun;
    await c.send(mut(0, 1, 1n));
    expect(got.seqnos.get(0)).toEqual([1]);
  });
});
