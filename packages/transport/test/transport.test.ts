import net from 'node:net';
import { encodeTransportFrame, FrameKind, HandshakeStep } from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { isTributaryError, type TributaryError } from '@tributary/core';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesMessage, createTransport, jsonMessage, type Stream, type Transport } from '../src/index.js';
import { factories, LOCAL, transportPair, waitFor } from './helpers.js';

const Post = bytesMessage(1, 'post');
const Req = jsonMessage<{ n: number }>(2, 'req');
const Res = jsonMessage<{ n: number; from: string }>(3, 'res');
const Open = jsonMessage<{ count: number }>(4, 'open');
const Item = jsonMessage<{ i: number; from: string }>(5, 'item');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

function code(err: unknown): string {
  return isTributaryError(err) ? err.code : `not a TributaryError: ${String(err)}`;
}

/** Both ends register the same types; each answers requests and serves streams. */
function wire(t: Transport, me: string, got: { posts: string[]; items: string[] }): void {
  t.subscribe(Post, (m) => {
    got.posts.push(m.toString());
  });
  t.subscribe(Req, (m, inc) => {
    // Reply from a later tick: handlers must not block, replies may come later.
    setImmediate(() => inc.reply(Res, { n: m.n * 2, from: me }));
  });
  t.subscribe(Res);
  t.subscribe(Item);
  t.subscribe(Open, (m, inc) => {
    const s = inc.stream as Stream;
    (async () => {
      for (let i = 0; i < m.count; i++) await s.send(Item, { i, from: me });
      s.close();
    })();
    return (msg, ended) => {
      if (!ended) got.items.push(`${me} got ${JSON.stringify(msg)}`);
    };
  });
}

describe.each(['tcp', 'tls'] as const)('transport over %s', (kind) => {
  async function pair(a = {}, b = {}) {
    const p = await transportPair(factories[kind](), a, b);
    cleanups.push(p.close);
    return p;
  }

  it('post, request and stream both ways at once', async () => {
    const { client, server } = await pair();
    const gotC = { posts: [] as string[], items: [] as string[] };
    const gotS = { posts: [] as string[], items: [] as string[] };
    wire(client, 'client', gotC);
    wire(server, 'server', gotS);
    await Promise.all([client.handshake(), server.handshake()]);
    expect(client.peer?.name).toBe('server');

    const run = async (t: Transport, me: string) => {
      const posts = Array.from({ length: 200 }, (_, i) => t.post(Post, Buffer.from(`${me}-${i}`)));
      const reqs = Array.from({ length: 50 }, (_, i) =>
        t.request<{ n: number; from: string }>(Req, { n: i }),
      );
      const streamed: number[] = [];
      let ended = false;
      const s = await t.stream(Open, { count: 100 }, (msg, end) => {
        if (end) ended = true;
        else streamed.push((msg as { i: number }).i);
      });
      for (let i = 0; i < 30; i++) await s.send(Item, { i, from: me });
      s.close();
      await Promise.all(posts);
      const replies = await Promise.all(reqs);
      await waitFor(() => ended, `${me} stream end`);
      return { replies, streamed };
    };
    const [rc, rs] = await Promise.all([run(client, 'client'), run(server, 'server')]);
    expect(rc.replies.map((r) => r.n)).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(rc.replies.every((r) => r.from === 'server')).toBe(true);
    expect(rs.replies.every((r) => r.from === 'client')).toBe(true);
    expect(rc.streamed).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(rs.streamed).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await waitFor(() => gotS.posts.length === 200 && gotC.posts.length === 200, 'posts');
    expect(gotS.posts).toEqual(Array.from({ length: 200 }, (_, i) => `client-${i}`));
    expect(gotC.posts).toEqual(Array.from({ length: 200 }, (_, i) => `server-${i}`));
    await waitFor(() => gotS.items.length === 30 && gotC.items.length === 30, 'stream items from the opener');
    // Every id is back: both sides closed every stream.
    await waitFor(() => client.stats().idsInUse === 0 && server.stats().idsInUse === 0, 'ids freed');
    expect(client.stats().streamsOpen + server.stats().streamsOpen).toBe(0);
  });

  it('a thousand concurrent streams', async () => {
    const { client, server } = await pair();
    server.subscribe(Item);
    server.subscribe(Open, (_m, inc) => {
      const s = inc.stream as Stream;
      let sum = 0;
      return (msg, ended) => {
        if (ended) {
          s.send(Item, { i: sum, from: 'server' }).then(() => s.close());
          return;
        }
        sum += (msg as { i: number }).i;
      };
    });
    client.subscribe(Open).subscribe(Item);
    await Promise.all([client.handshake(), server.handshake()]);
    const N = 1000;
    const results = await Promise.all(
      Array.from({ length: N }, async (_, k) => {
        let total = -1;
        let done!: () => void;
        const finished = new Promise<void>((r) => {
          done = r;
        });
        const s = await client.stream(Open, { count: 0 }, (msg, ended) => {
          if (ended) done();
          else total = (msg as { i: number }).i;
        });
        for (let i = 0; i <= 3; i++) await s.send(Item, { i: i * k, from: 'client' });
        s.close();
        await finished;
        return total;
      }),
    );
    expect(results).toEqual(Array.from({ length: N }, (_, k) => 6 * k));
    await waitFor(() => client.stats().idsInUse === 0, 'all 1000 ids freed');
    expect(server.stats().streamsOpen).toBe(0);
  });

  it('stream close from either side; the id is freed only when both closed; onMessage learns of the peer close', async () => {
    const { client, server } = await pair();
    const serverStreams: Stream[] = [];
    const serverSaw: string[] = [];
    server.subscribe(Item);
    server.subscribe(Open, (_m, inc) => {
      serverStreams.push(inc.stream as Stream);
      return (msg, ended) => serverSaw.push(ended ? 'ended' : `item ${(msg as { i: number }).i}`);
    });
    client.subscribe(Open).subscribe(Item);
    await Promise.all([client.handshake(), server.handshake()]);

    // 1. The opener closes first.
    const clientSaw: string[] = [];
    const s1 = await client.stream(Open, { count: 0 }, (msg, ended) =>
      clientSaw.push(ended ? 'ended' : `item ${(msg as { i: number }).i}`),
    );
    await s1.send(Item, { i: 1, from: 'client' });
    s1.close();
    await expect(s1.send(Item, { i: 2, from: 'client' })).rejects.toMatchObject({
      code: 'TRIB_STREAM_CLOSED',
    });
    await waitFor(() => serverSaw.includes('ended'), 'server hears the close');
    expect(client.stats().idsInUse).toBe(1); // half-closed: still reserved
    const ss1 = serverStreams[0] as Stream;
    expect(ss1.peerClosed).toBe(true);
    await ss1.send(Item, { i: 99, from: 'server' }); // the other side may still send
    ss1.close();
    await waitFor(() => clientSaw.includes('ended'), 'client hears the close');
    expect(clientSaw).toEqual(['item 99', 'ended']);
    await waitFor(() => client.stats().idsInUse === 0, 'id freed');

    // 2. The acceptor closes first.
    const saw2: string[] = [];
    const s2 = await client.stream(Open, { count: 0 }, (_msg, ended) => saw2.push(ended ? 'ended' : 'item'));
    await waitFor(() => serverStreams.length === 2, 'second stream');
    (serverStreams[1] as Stream).close();
    await waitFor(() => saw2.includes('ended'), 'opener hears the acceptor close');
    expect(s2.peerClosed).toBe(true);
    expect(client.stats().idsInUse).toBe(1);
    await s2.send(Item, { i: 5, from: 'client' });
    s2.close();
    await waitFor(
      () => client.stats().idsInUse === 0 && server.stats().streamsOpen === 0,
      'freed after both',
    );
  });

  it('opaque exhaustion: fail at once or wait, as the caller chooses', async () => {
    const { client, server } = await pair({ settings: { opaqueStart: 100, opaqueEnd: 104 } });
    const accepted: Stream[] = [];
    server.subscribe(Open, (_m, inc) => {
      accepted.push(inc.stream as Stream);
      return () => {};
    });
    client.subscribe(Open).subscribe(Req);
    await Promise.all([client.handshake(), server.handshake()]);
    const streams = await Promise.all(
      Array.from({ length: 4 }, () => client.stream(Open, { count: 0 }, () => {})),
    );
    expect(streams.map((s) => s.id).sort()).toEqual([100, 101, 102, 103]);
    await expect(client.stream(Open, { count: 0 }, () => {}, { onExhausted: 'fail' })).rejects.toMatchObject({
      code: 'TRIB_STREAMS_EXHAUSTED',
    });
    await expect(client.request(Req, { n: 1 }, { onExhausted: 'fail' })).rejects.toMatchObject({
      code: 'TRIB_STREAMS_EXHAUSTED',
    });
    let waitedId = -1;
    const waiting = client
      .stream(Open, { count: 0 }, () => {})
      .then((s) => {
        waitedId = s.id;
        return s;
      });
    const ac = new AbortController();
    const aborted = client.stream(Open, { count: 0 }, () => {}, { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'TRIB_ABORTED' });
    // Closing one side is not enough to free an id.
    (streams[2] as Stream).close();
    await new Promise((r) => setTimeout(r, 30));
    expect(waitedId).toBe(-1);
    await waitFor(() => accepted.length === 4, 'accepted');
    const peerOf2 = accepted.find((s) => s.id === (streams[2] as Stream).id) as Stream;
    peerOf2.close();
    const s5 = await waiting;
    expect(s5.id).toBe((streams[2] as Stream).id);
  });

  it('request timeout, abort, and a peer with no handler', async () => {
    const { client, server } = await pair();
    server.subscribe(Req, () => {
      /* never replies */
    });
    client.subscribe(Req).subscribe(Open);
    await Promise.all([client.handshake(), server.handshake()]);
    await expect(client.request(Req, { n: 1 }, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'TRIB_TRANSPORT_REQUEST_TIMEOUT',
    });
    const ac = new AbortController();
    const p = client.request(Req, { n: 2 }, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'TRIB_ABORTED' });
    // Abandoned ids stay reserved so a late reply can never be taken for a newer request's.
    expect(client.stats().idsInUse).toBe(2);
    const Unknown = jsonMessage<object>(77, 'unknown');
    client.subscribe(Unknown);
    await expect(client.request(Unknown, {})).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_REMOTE_ERROR' });
    // The server has no Open handler: the stream is refused, the opener's callback ends with the reason.
    const refused = new Promise<TributaryError | undefined>((resolve) => {
      client.stream(Open, { count: 1 }, (_m, ended, err) => {
        if (ended) resolve(err);
      });
    });
    expect((await refused)?.details.remoteCode).toBe('TRIB_TRANSPORT_NO_HANDLER');
    await waitFor(() => server.stats().streamsOpen === 0, 'refused stream freed on the acceptor');
  });

  it('write batching: nothing leaves before the interval unless flush: true or the batch fills', async () => {
    const { client, server } = await pair({
      settings: { flushIntervalMs: 60_000, maxBatchBytes: 4096, maxQueueBytes: 1 << 20 },
    });
    const got: string[] = [];
    server.subscribe(Post, (m) => {
      got.push(m.toString());
    });
    client.subscribe(Post);
    await Promise.all([client.handshake(), server.handshake()]);
    const out0 = client.stats().bytesOut;
    await client.post(Post, Buffer.from('a'));
    await client.post(Post, Buffer.from('b'));
    expect(client.stats().bytesOut).toBe(out0); // batched, not written
    await client.post(Post, Buffer.from('c'), { flush: true });
    expect(client.stats().bytesOut).toBe(out0 + 3 * 17);
    await waitFor(() => got.length === 3, 'flushed batch');
    expect(got).toEqual(['a', 'b', 'c']);
    // A full batch goes at once: 300 x 30 bytes > 4 KiB.
    const flushes = client.stats().flushes;
    for (let i = 0; i < 300; i++) await client.post(Post, Buffer.alloc(14, 0x78));
    expect(client.stats().flushes).toBeGreaterThan(flushes);
    await waitFor(() => got.length > 3, 'full batches delivered without flush');
    client.flush();
    await waitFor(() => got.length === 303, 'the rest after flush()');
  });

  it('defaultHandler gets what no handler claims (post, request, stream)', async () => {
    const { client, server } = await pair();
    const seen: string[] = [];
    server.defaultHandler((m, inc) => {
      seen.push(`${inc.kind} ${m.id} ${m.data.toString()}`);
      if (inc.kind === 'request') inc.reply(Post, Buffer.from('dflt'));
      if (inc.kind === 'stream') return (_msg, ended) => ended && inc.stream?.close();
    });
    server.subscribe(Post);
    const Other = bytesMessage(42, 'other');
    client.subscribe(Other).subscribe(Post);
    await Promise.all([client.handshake(), server.handshake()]);
    await client.post(Other, Buffer.from('p'));
    const reply = await client.request<Buffer>(Other, Buffer.from('r'));
    expect(reply.toString()).toBe('dflt');
    const s = await client.stream(Other, Buffer.from('s'), () => {});
    s.close();
    await waitFor(() => seen.length === 3, 'three messages');
    expect(seen).toEqual(['post 42 p', 'request 42 r', 'stream 42 s']);
  });

  it('a side may call handshake() late: the peer hello waits in the socket', async () => {
    const { client, server } = await pair();
    const clientReady = client.handshake();
    // A deliberate delay (not synchronisation): the server app is busy before it starts.
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all([clientReady, server.handshake()]);
    expect(server.peer?.name).toBe('client');
  });

  it('version mismatch fails both sides with a typed error before any message', async () => {
    const { client, server } = await pair({ version: 2 }, { version: 3 });
    const got: unknown[] = [];
    server.subscribe(Post, (m) => {
      got.push(m);
    });
    client.subscribe(Post);
    const [a, b] = await Promise.allSettled([client.handshake(), server.handshake()]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(code((a as PromiseRejectedResult).reason)).toBe('TRIB_TRANSPORT_VERSION_MISMATCH');
    expect(code((b as PromiseRejectedResult).reason)).toBe('TRIB_TRANSPORT_VERSION_MISMATCH');
    await expect(client.post(Post, Buffer.from('x'))).rejects.toMatchObject({
      code: 'TRIB_TRANSPORT_VERSION_MISMATCH',
    });
    expect(got).toEqual([]);
  });

  it('refuses to send before the handshake and after close; graceful close reaches the peer', async () => {
    const { client, server } = await pair();
    client.subscribe(Req);
    server.subscribe(Req, () => {});
    await expect(client.post(Post, Buffer.from('early'))).rejects.toMatchObject({
      code: 'TRIB_TRANSPORT_NOT_READY',
    });
    await Promise.all([client.handshake(), server.handshake()]);
    const pending = server.request(Req, { n: 1 });
    pending.catch(() => {});
    await client.close();
    await client.close(); // idempotent
    await expect(client.post(Post, Buffer.from('late'))).rejects.toMatchObject({
      code: 'TRIB_TRANSPORT_CLOSED',
    });
    expect(code(await server.closed)).toBe('TRIB_TRANSPORT_CLOSED');
    await expect(pending).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_CLOSED' });
  });

  it('back-pressure: a peer that stops reading makes senders wait; the queue stays bounded', async () => {
    const { client, server } = await pair({
      settings: { maxQueueBytes: 256 * 1024, maxBatchBytes: 64 * 1024, maxWaiters: 8 },
    });
    const got: number[] = [];
    server.subscribe(Post, (m) => {
      got.push(m.readUInt32BE(0));
    });
    client.subscribe(Post);
    await Promise.all([client.handshake(), server.handshake()]);
    server.pause();
    const body = Buffer.alloc(16 * 1024);
    let n = 0;
    // Post without waiting until a post has to wait.
    for (;;) {
      if (!client.writable) break;
      const b = Buffer.from(body);
      b.writeUInt32BE(n++, 0);
      void client.post(Post, b);
      if (n > 10_000) throw new Error('never blocked');
    }
    expect(client.connection.writableLength).toBeGreaterThanOrEqual(256 * 1024);
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      const b = Buffer.from(body);
      b.writeUInt32BE(n++, 0);
      waits.push(client.post(Post, b));
    }
    // The 9th waiter is refused: the queue of waiting senders is bounded too.
    await expect(client.post(Post, body)).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_QUEUE_FULL' });
    expect(client.stats().senderWaits).toBeGreaterThanOrEqual(8);
    server.resume();
    await Promise.all(waits);
    await waitFor(() => got.length === n, 'all delivered');
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});

describe('transport against misbehaving peers (raw TCP)', () => {
  async function rawServer(onSocket: (s: net.Socket) => void) {
    const open = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      open.add(s);
      s.on('close', () => open.delete(s));
      onSocket(s);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          for (const s of open) s.destroy();
          srv.close(() => r());
        }),
    );
    return { host: '127.0.0.1', port };
  }
  const hello = (settings: Record<string, unknown> = {}) =>
    encodeTransportFrame({
      kind: FrameKind.Handshake,
      messageId: HandshakeStep.Hello,
      payload: Buffer.from(
        JSON.stringify({
          name: 'raw',
          version: 1,
          settings: {
            opaqueStart: 1,
            opaqueEnd: 100,
            maxFrameBytes: 65536,
            heartbeatMs: 20,
            deadAfterHeartbeats: 3,
            compression: 'none',
            ...settings,
          },
        }),
      ),
    });
  const ready = encodeTransportFrame({ kind: FrameKind.Handshake, messageId: HandshakeStep.Ready });

  async function dial(endpoint: { host: string; port: number }, settings = {}) {
    const conn = await createTcpFactory().connect(endpoint);
    const errors: TributaryError[] = [];
    const t = createTransport(conn, { name: 'victim', version: 1, settings, onError: (e) => errors.push(e) });
    cleanups.push(() => t.close());
    t.subscribe(Req);
    return { t, errors };
  }

  it('heartbeat death: a silent peer is declared dead and pending work fails with TRIB_PEER_DEAD', async () => {
    const sockets: net.Socket[] = [];
    const ep = await rawServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      s.write(Buffer.concat([hello({ heartbeatMs: 20 }), ready])); // then silence
    });
    const { t, errors } = await dial(ep, { heartbeatMs: 20, deadAfterHeartbeats: 3 });
    await t.handshake();
    const pending = t.request(Req, { n: 1 }, { timeoutMs: 0 });
    const opened = t.stream(Req, { n: 2 }, () => {});
    const streamErr = new Promise<TributaryError | undefined>((resolve) => {
      t.stream(Req, { n: 3 }, (_m, ended, err) => {
        if (ended) resolve(err);
      });
    });
    await expect(pending).rejects.toMatchObject({ code: 'TRIB_PEER_DEAD' });
    expect((await streamErr)?.code).toBe('TRIB_PEER_DEAD');
    await opened;
    expect(code(await t.closed)).toBe('TRIB_PEER_DEAD');
    expect(errors.map((e) => e.code)).toContain('TRIB_PEER_DEAD');
    expect(t.stats().heartbeatsOut).toBeGreaterThan(0);
  });

  it('a peer that sends heartbeats stays alive past the dead line', async () => {
    const ep = await rawServer((s) => {
      s.on('error', () => {});
      s.write(Buffer.concat([hello({ heartbeatMs: 50 }), ready]));
      const beat = setInterval(() => s.write(encodeTransportFrame({ kind: FrameKind.Heartbeat })), 50);
      s.on('close', () => clearInterval(beat));
    });
    const { t } = await dial(ep, { heartbeatMs: 50, deadAfterHeartbeats: 4 });
    await t.handshake();
    await waitFor(() => t.stats().heartbeatsIn >= 10, '10 heartbeats (500 ms, over 4x the interval)');
    expect(t.isClosed).toBe(false);
  });

  it('garbage from the peer closes that connection with a logged, counted TRIB_BAD_MAGIC', async () => {
    const ep = await rawServer((s) => {
      s.on('error', () => {});
      s.write(Buffer.concat([hello(), ready]));
      setTimeout(() => s.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 20);
    });
    const { t, errors } = await dial(ep);
    await t.handshake();
    const pending = t.request(Req, { n: 1 });
    await expect(pending).rejects.toMatchObject({ code: 'TRIB_BAD_MAGIC' });
    expect(t.stats().malformedFrames).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(['TRIB_BAD_MAGIC']);
    expect(t.connection.destroyed).toBe(true);
  });

  it('garbage instead of a hello fails the handshake with a codec error', async () => {
    const ep = await rawServer((s) => {
      s.on('error', () => {});
      s.write(Buffer.alloc(64, 0x41));
    });
    const { t } = await dial(ep);
    await expect(t.handshake()).rejects.toMatchObject({ code: 'TRIB_BAD_MAGIC' });
  });

  it('a frame larger than our maxFrameBytes closes the connection', async () => {
    const ep = await rawServer((s) => {
      s.on('error', () => {});
      s.write(Buffer.concat([hello(), ready]));
      const big = Buffer.alloc(16);
      big.set(encodeTransportFrame({ kind: FrameKind.Post, messageId: 1 }).subarray(0, 12));
      big.writeUInt32BE(10 * 1024 * 1024, 12);
      setTimeout(() => s.write(big), 20);
    });
    const { t } = await dial(ep, { maxFrameBytes: 64 * 1024 });
    await t.handshake();
    expect(code(await t.closed)).toBe('TRIB_FRAME_TOO_LARGE');
  });

  it('a settings mismatch (compression) is a typed error and the peer is told why', async () => {
    const received: Buffer[] = [];
    const ep = await rawServer((s) => {
      s.on('error', () => {});
      s.on('data', (d) => received.push(d));
      s.write(hello({ compression: 'snappy' }));
    });
    const { t } = await dial(ep);
    await expect(t.handshake()).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_SETTINGS_MISMATCH' });
    await waitFor(
      () => Buffer.concat(received).includes('TRIB_TRANSPORT_SETTINGS_MISMATCH'),
      'error frame to the peer',
    );
  });

  it('a message before the handshake is a protocol error', async () => {
    const ep = await rawServer((s) => {
      s.on('error', () => {});
      s.write(
        Buffer.concat([
          hello(),
          encodeTransportFrame({ kind: FrameKind.Post, messageId: 1, payload: Buffer.from('x') }),
        ]),
      );
    });
    const { t } = await dial(ep);
    await expect(t.handshake()).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_PROTOCOL' });
  });

  it('handshake timeout', async () => {
    const ep = await rawServer((s) => {
      s.on('error', () => {});
    });
    const conn = await createTcpFactory().connect(ep);
    const t = createTransport(conn, { version: 1, handshakeTimeoutMs: 100 });
    cleanups.push(() => t.close());
    await expect(t.handshake()).rejects.toMatchObject({ code: 'TRIB_TRANSPORT_HANDSHAKE_FAILED' });
  });
});

void LOCAL;
