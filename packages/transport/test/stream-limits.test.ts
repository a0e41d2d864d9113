// The receiving side holds the peer to the id range it announced and to this side's maxStreams:
// a hostile (authenticated or not) peer cannot make a transport keep unbounded stream state.
// Hostile peers here are raw TCP sockets writing frames from the codec's encoder.
import {
  encodeTransportFrame,
  FrameFlag,
  FrameKind,
  HandshakeStep,
  TransportFrameDecoder,
} from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { isTributaryError, type TributaryError } from '@tributary/core';
import { createMetrics, type MetricsRegistry } from '@tributary/metrics';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTransport,
  type Incoming,
  jsonMessage,
  type Stream,
  type Transport,
  type TransportSettings,
} from '../src/index.js';
import { LOCAL, rawConnect, waitFor } from './helpers.js';

const Open = jsonMessage<{ n: number }>(1, 'open');
/** Requests the server holds unanswered until the test answers them. */
const Hold = jsonMessage<{ n: number }>(2, 'hold');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

const code = (err: unknown) => (isTributaryError(err) ? err.code : `not a TributaryError: ${String(err)}`);

interface Served {
  transport: Transport;
  errors: TributaryError[];
  opened: number;
  held: Incoming[];
}

/** A real transport server over TCP; every stream it accepts is closed when the opener closes. */
async function startServer(settings: Partial<TransportSettings>) {
  const metrics = createMetrics();
  const served: Served[] = [];
  const listener = await createTcpFactory().listen(LOCAL, (conn) => {
    const entry: Served = { transport: undefined as unknown as Transport, errors: [], opened: 0, held: [] };
    const t = createTransport(conn, {
      name: 'server',
      version: 1,
      settings,
      metrics,
      onError: (e) => entry.errors.push(e),
    });
    entry.transport = t;
    t.subscribe(Open, (m, incoming) => {
      if (incoming.kind === 'request') {
        incoming.reply(Open, { n: m.n + 1 });
        return;
      }
      entry.opened++;
      const s = incoming.stream as Stream;
      return (_msg, ended) => {
        if (ended) s.close();
      };
    });
    t.subscribe(Hold, (_m, incoming) => {
      entry.held.push(incoming);
    });
    served.push(entry);
    t.handshake().catch(() => {});
  });
  cleanups.push(async () => {
    for (const s of served) await s.transport.close();
    await listener.close();
  });
  return { endpoint: listener.address(), served, metrics };
}

const counter = (m: MetricsRegistry, name: string) => m.snapshot().transport?.counters[name] ?? 0;

interface Frame {
  kind: number;
  flags: number;
  messageId: number;
  opaque: number;
  payload: Buffer;
}

/** A raw socket that speaks just enough of the handshake, then sends whatever the test writes. */
async function hostile(endpoint: { host: string; port: number }, settings: Record<string, unknown> = {}) {
  const socket = await rawConnect(endpoint);
  socket.on('error', () => {});
  const frames: Frame[] = [];
  const decoder = new TransportFrameDecoder({ maxFrameBytes: 1024 * 1024 });
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    decoder.feed(chunk, (kind, flags, messageId, opaque, payload) => {
      frames.push({ kind, flags, messageId, opaque, payload: Buffer.from(payload) });
    });
    wake?.();
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  cleanups.push(async () => {
    socket.destroy();
    await closed;
  });
  const hello = {
    name: 'hostile',
    version: 1,
    settings: {
      opaqueStart: 1,
      opaqueEnd: 1_000_000,
      maxFrameBytes: 65_536,
      heartbeatMs: 0,
      deadAfterHeartbeats: 3,
      compression: 'none',
      ...settings,
    },
  };
  socket.write(
    Buffer.concat([
      encodeTransportFrame({
        kind: FrameKind.Handshake,
        messageId: HandshakeStep.Hello,
        payload: Buffer.from(JSON.stringify(hello)),
      }),
      encodeTransportFrame({ kind: FrameKind.Handshake, messageId: HandshakeStep.Ready }),
    ]),
  );
  /** Waits for a frame `match` accepts (already received or later). */
  const take = async (match: (f: Frame) => boolean): Promise<Frame> => {
    for (;;) {
      const f = frames.find(match);
      if (f) return f;
      if (socket.destroyed) throw new Error('closed before the expected frame');
      await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
    }
  };
  const serverHello = await take(
    (f) => f.kind === FrameKind.Handshake && f.messageId === HandshakeStep.Hello,
  );
  await take((f) => f.kind === FrameKind.Handshake && f.messageId === HandshakeStep.Ready);
  const open = (id: number) =>
    encodeTransportFrame({
      kind: FrameKind.StreamOpen,
      flags: FrameFlag.Initiator,
      messageId: Open.id,
      opaque: id,
      payload: Open.encode({ n: id }),
    });
  return {
    socket,
    closed,
    frames,
    take,
    open,
    serverHello: JSON.parse(serverHello.payload.toString()) as { settings: Record<string, unknown> },
    /** The connection-level error frame (opaque 0) the server sent before closing. */
    async closeReason(): Promise<string> {
      const f = await take((x) => x.kind === FrameKind.Error && x.opaque === 0);
      await closed;
      return (JSON.parse(f.payload.toString()) as { code: string }).code;
    },
  };
}

/** A well-behaved client on the same listener: it must keep working while hostile peers are thrown out. */
async function goodClient(
  endpoint: { host: string; port: number },
  settings: Partial<TransportSettings> = {},
) {
  const t = createTransport(await createTcpFactory().connect(endpoint), {
    name: 'good',
    version: 1,
    settings,
  });
  t.subscribe(Open);
  cleanups.push(() => t.close());
  await t.handshake();
  return t;
}

describe('transport: the peer is held to its announced id range and to maxStreams', () => {
  it('the hello announces maxStreams', async () => {
    const { endpoint } = await startServer({ maxStreams: 7 });
    const h = await hostile(endpoint);
    expect(h.serverHello.settings.maxStreams).toBe(7);
  });

  it('a stream id outside the announced range closes that connection only, with TRIB_TRANSPORT_STREAM_ID_RANGE, counted', async () => {
    const { endpoint, served, metrics } = await startServer({});
    const good = await goodClient(endpoint);
    const h = await hostile(endpoint, { opaqueStart: 10, opaqueEnd: 20 });
    h.socket.write(h.open(10)); // in range: accepted
    await waitFor(() => served[1]?.opened === 1, 'the in-range stream to be accepted');
    h.socket.write(h.open(20)); // the end is exclusive
    expect(await h.closeReason()).toBe('TRIB_TRANSPORT_STREAM_ID_RANGE');
    const victim = served[1]!;
    expect(code(await victim.transport.closed)).toBe('TRIB_TRANSPORT_STREAM_ID_RANGE');
    expect(victim.opened).toBe(1);
    expect(victim.errors.map((e) => e.code)).toEqual(['TRIB_TRANSPORT_STREAM_ID_RANGE']);
    expect(victim.transport.stats().streamLimitViolations).toBe(1);
    expect(victim.transport.stats().malformedFrames).toBe(0);
    expect(counter(metrics, 'stream_limit_violations')).toBe(1);
    // The other connection and the listener are untouched.
    expect(served[0]!.transport.isReady).toBe(true);
    expect(await good.request(Open, { n: 1 }, { timeoutMs: 5000 })).toEqual({ n: 2 });
    const again = await goodClient(endpoint);
    expect(await again.request(Open, { n: 41 }, { timeoutMs: 5000 })).toEqual({ n: 42 });
  });

  it('a request id outside the range (below the start, or id 0) is refused the same way', async () => {
    const { endpoint, served, metrics } = await startServer({});
    for (const id of [4, 0]) {
      const h = await hostile(endpoint, { opaqueStart: 5, opaqueEnd: 6 });
      h.socket.write(
        encodeTransportFrame({
          kind: FrameKind.Request,
          flags: FrameFlag.Initiator,
          messageId: Open.id,
          opaque: id,
          payload: Open.encode({ n: 1 }),
        }),
      );
      expect(await h.closeReason()).toBe('TRIB_TRANSPORT_STREAM_ID_RANGE');
      // No reply was sent for it.
      expect(h.frames.some((f) => f.kind === FrameKind.Response)).toBe(false);
    }
    expect(served.map((s) => s.transport.isClosed)).toEqual([true, true]);
    expect(counter(metrics, 'stream_limit_violations')).toBe(2);
  });

  it('one stream past maxStreams closes the connection with TRIB_TRANSPORT_TOO_MANY_STREAMS; closed streams make room', async () => {
    const MAX = 4;
    const { endpoint, served, metrics } = await startServer({ maxStreams: MAX });
    const good = await goodClient(endpoint);
    const h = await hostile(endpoint);
    for (let id = 1; id <= MAX; id++) h.socket.write(h.open(id));
    await waitFor(() => served[1]?.opened === MAX, `${MAX} streams accepted`);
    // Ending stream 1 (the server ends its side in turn) frees a slot: one more fits.
    h.socket.write(
      encodeTransportFrame({ kind: FrameKind.StreamEnd, flags: FrameFlag.Initiator, opaque: 1 }),
    );
    await h.take((f) => f.kind === FrameKind.StreamEnd && f.opaque === 1);
    h.socket.write(h.open(100));
    await waitFor(() => served[1]?.opened === MAX + 1, 'the stream opened in the freed slot');
    expect(served[1]!.transport.stats().streamsOpen).toBe(MAX);
    h.socket.write(h.open(101));
    expect(await h.closeReason()).toBe('TRIB_TRANSPORT_TOO_MANY_STREAMS');
    const victim = served[1]!;
    expect(code(await victim.transport.closed)).toBe('TRIB_TRANSPORT_TOO_MANY_STREAMS');
    expect(victim.opened).toBe(MAX + 1);
    expect(victim.transport.stats().streamsOpen).toBe(0); // state released with the connection
    expect(counter(metrics, 'stream_limit_violations')).toBe(1);
    expect(await good.request(Open, { n: 7 }, { timeoutMs: 5000 })).toEqual({ n: 8 });
  });

  it('a flood of stream opens in one write keeps at most maxStreams of state', async () => {
    const MAX = 500;
    const { endpoint, served } = await startServer({ maxStreams: MAX });
    const h = await hostile(endpoint);
    const flood = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => h.open(i + 1)));
    h.socket.write(flood);
    expect(await h.closeReason()).toBe('TRIB_TRANSPORT_TOO_MANY_STREAMS');
    expect(served[0]!.opened).toBe(MAX);
    expect(served[0]!.transport.stats().streamLimitViolations).toBe(1);
  });

  it('a hello with an impossible id range or maxStreams fails the handshake with TRIB_TRANSPORT_SETTINGS_MISMATCH', async () => {
    const { endpoint, served } = await startServer({});
    for (const bad of [
      { opaqueStart: 0 },
      { opaqueStart: 5, opaqueEnd: 5 },
      { opaqueEnd: 2 ** 40 },
      { opaqueStart: '1' },
      { maxStreams: -1 },
    ]) {
      const socket = await rawConnect(endpoint);
      socket.on('error', () => {});
      const got: Buffer[] = [];
      socket.on('data', (d) => got.push(d));
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      const hello = {
        name: 'bad',
        version: 1,
        settings: {
          opaqueStart: 1,
          opaqueEnd: 100,
          maxFrameBytes: 65_536,
          heartbeatMs: 0,
          deadAfterHeartbeats: 3,
          compression: 'none',
          ...bad,
        },
      };
      socket.write(
        encodeTransportFrame({
          kind: FrameKind.Handshake,
          messageId: HandshakeStep.Hello,
          payload: Buffer.from(JSON.stringify(hello)),
        }),
      );
      await closed;
      expect(Buffer.concat(got).toString('latin1'), JSON.stringify(bad)).toContain(
        'TRIB_TRANSPORT_SETTINGS_MISMATCH',
      );
    }
    for (const s of served) expect(code(await s.transport.closed)).toBe('TRIB_TRANSPORT_SETTINGS_MISMATCH');
  });

  it('a well-behaved opener honours the peer maxStreams: it waits or fails with TRIB_STREAMS_EXHAUSTED, never tripping the limit', async () => {
    const MAX = 3;
    const { endpoint, served, metrics } = await startServer({ maxStreams: MAX });
    const client = await goodClient(endpoint); // its own range is the default 65 535 ids
    const streams: Stream[] = [];
    for (let i = 0; i < MAX; i++) streams.push(await client.stream(Open, { n: i }, () => {}));
    await expect(client.stream(Open, { n: 9 }, () => {}, { onExhausted: 'fail' })).rejects.toMatchObject({
      code: 'TRIB_STREAMS_EXHAUSTED',
    });
    let opened = false;
    const late = client
      .stream(Open, { n: 10 }, () => {})
      .then((s) => {
        opened = true;
        return s;
      });
    await new Promise<void>((r) => setImmediate(r));
    expect(opened).toBe(false);
    streams[0]!.close(); // the server closes its side on our end: the id comes back
    const s = await late;
    expect(s.id).toBe(streams[0]!.id);
    await waitFor(() => served[0]!.opened === MAX + 1, 'the waiting stream accepted');
    expect(served[0]!.transport.isReady).toBe(true);
    expect(counter(metrics, 'stream_limit_violations')).toBe(0);
  });

  const request = (msg: typeof Open, id: number) =>
    encodeTransportFrame({
      kind: FrameKind.Request,
      flags: FrameFlag.Initiator,
      messageId: msg.id,
      opaque: id,
      payload: msg.encode({ n: id }),
    });

  it('more unanswered requests than maxStreams close the connection with TRIB_TRANSPORT_TOO_MANY_REQUESTS', async () => {
    const MAX = 50;
    const { endpoint, served, metrics } = await startServer({ maxStreams: MAX });
    const good = await goodClient(endpoint);
    const h = await hostile(endpoint);
    // One write: the handler sees at most MAX of them, whatever the flood.
    h.socket.write(Buffer.concat(Array.from({ length: 5_000 }, (_, i) => request(Hold, i + 1))));
    expect(await h.closeReason()).toBe('TRIB_TRANSPORT_TOO_MANY_REQUESTS');
    const victim = served[1]!;
    expect(victim.held.length).toBe(MAX);
    expect(code(await victim.transport.closed)).toBe('TRIB_TRANSPORT_TOO_MANY_REQUESTS');
    expect(counter(metrics, 'stream_limit_violations')).toBe(1);
    expect(await good.request(Open, { n: 1 }, { timeoutMs: 5000 })).toEqual({ n: 2 });
  });

  it('a request id sent again before its answer is a protocol violation; after the answer it may come again', async () => {
    const { endpoint, served } = await startServer({});
    const h = await hostile(endpoint);
    h.socket.write(request(Hold, 7));
    await waitFor(() => served[0]?.held.length === 1, 'the held request');
    served[0]!.held[0]!.reply(Hold, { n: 0 });
    await h.take((f) => f.kind === FrameKind.Response && f.opaque === 7);
    h.socket.write(request(Hold, 7)); // answered: its id is free again
    await waitFor(() => served[0]?.held.length === 2, 'the same id, reused after its answer');
    h.socket.write(request(Hold, 7)); // not answered yet
    await h.closed;
    expect(code(await served[0]!.transport.closed)).toBe('TRIB_TRANSPORT_PROTOCOL');
    expect(served[0]!.held.length).toBe(2);
    expect(served[0]!.transport.stats().malformedFrames).toBe(1);
  });

  it('an honest client never trips the request limit: its id pool waits for answers', async () => {
    const { endpoint, served } = await startServer({ maxStreams: 8 });
    const good = await goodClient(endpoint);
    const answers = Array.from({ length: 200 }, (_, i) =>
      good.request<{ n: number }>(Open, { n: i }, { timeoutMs: 10_000 }),
    );
    expect((await Promise.all(answers)).map((a) => a.n)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    expect(served[0]!.transport.isReady).toBe(true);
    expect(served[0]!.transport.stats().streamLimitViolations).toBe(0);
  });
});
