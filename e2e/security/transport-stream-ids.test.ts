// A hostile peer that logs in properly (SCRAM, by hand on a raw socket) and then sends stream ids
// it never announced, or opens streams on the mutation stream (which only posts): the server closes
// that connection with a typed error, counts it, and real clients keep streaming.
import net from 'node:net';
import { createScramProvider } from '@tributary/auth-scram';
import {
  encodeTransportFrame,
  FrameFlag,
  FrameKind,
  HandshakeStep,
  TransportFrameDecoder,
} from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { type Endpoint, staticCredentials } from '@tributary/core';
import { createMetrics } from '@tributary/metrics';
import {
  createMutationStreamClient,
  createMutationStreamServer,
  type MutationStreamServer,
} from '@tributary/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/pipeline.js';

const USERS = { alice: 'wonderland' };
const MSTREAM_VERSION = 'tributary-mstream/1';

interface Frame {
  kind: number;
  messageId: number;
  opaque: number;
  payload: Buffer;
}

/** A raw socket that completes the transport handshake with a real SCRAM login, then obeys the test. */
async function authenticatedRawPeer(endpoint: Endpoint) {
  const socket = net.connect(endpoint.port, endpoint.host);
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  socket.on('error', () => {});
  const frames: Frame[] = [];
  const decoder = new TransportFrameDecoder({ maxFrameBytes: 1024 * 1024 });
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    decoder.feed(chunk, (kind, _flags, messageId, opaque, payload) =>
      frames.push({ kind, messageId, opaque, payload: Buffer.from(payload) }),
    );
    wake?.();
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const take = async (match: (f: Frame) => boolean): Promise<Frame> => {
    for (;;) {
      const i = frames.findIndex(match);
      if (i >= 0) return frames.splice(i, 1)[0]!;
      if (socket.destroyed) throw new Error('closed before the expected frame');
      await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
    }
  };
  const step = (s: number) => (f: Frame) => f.kind === FrameKind.Handshake && f.messageId === s;
  const handshake = (s: number, payload: Uint8Array = Buffer.alloc(0)) =>
    socket.write(encodeTransportFrame({ kind: FrameKind.Handshake, messageId: s, payload }));

  handshake(
    HandshakeStep.Hello,
    Buffer.from(
      JSON.stringify({
        name: 'hostile',
        version: MSTREAM_VERSION,
        settings: {
          opaqueStart: 1,
          opaqueEnd: 65_536,
          maxFrameBytes: 1024 * 1024,
          heartbeatMs: 0,
          deadAfterHeartbeats: 3,
          compression: 'none',
        },
        auth: { client: true },
      }),
    ),
  );
  const hello = JSON.parse((await take(step(HandshakeStep.Hello))).payload.toString()) as {
    settings: { opaqueStart: number; opaqueEnd: number; maxStreams: number };
    auth: { server: { mechanisms: string[] } };
  };
  const mechanism = 'SCRAM-SHA256';
  expect(hello.auth.server.mechanisms).toContain(mechanism);
  const scram = createScramProvider().createClient({
    mechanism,
    username: 'alice',
    password: USERS.alice,
    secure: false,
  });
  const initial = Buffer.from(scram.start());
  handshake(
    HandshakeStep.AuthStart,
    Buffer.concat([Buffer.from([mechanism.length]), Buffer.from(mechanism), initial]),
  );
  const challenge = await take(step(HandshakeStep.AuthChallenge));
  handshake(HandshakeStep.AuthResponse, scram.step(challenge.payload));
  scram.finish((await take(step(HandshakeStep.AuthDone))).payload); // throws on a forged server
  await take(step(HandshakeStep.Ready));
  handshake(HandshakeStep.Ready);

  return {
    socket,
    closed,
    take,
    serverSettings: hello.settings,
    frame: (kind: FrameKind, opaque: number, messageId = 1) =>
      socket.write(
        encodeTransportFrame({
          kind,
          flags: FrameFlag.Initiator,
          messageId,
          opaque,
          payload: Buffer.from('x'),
        }),
      ),
    /** The code of the connection-level error frame the server sent, if any, once it closed. */
    async closeCode(): Promise<string | undefined> {
      await closed;
      const f = frames.find((x) => x.kind === FrameKind.Error && x.opaque === 0);
      return f ? (JSON.parse(f.payload.toString()) as { code: string }).code : undefined;
    },
  };
}

describe('mutation stream server: authenticated peers that break the stream-id rules', () => {
  const metrics = createMetrics();
  let server: MutationStreamServer;
  let endpoint: Endpoint;
  const events: { type: string; code?: string; vbucket?: number; seqnos?: number[] }[] = [];
  let drain: Promise<void>;
  const transportCounter = (name: string) => metrics.snapshot().transport?.counters[name] ?? 0;

  beforeAll(async () => {
    server = createMutationStreamServer({
      listen: { host: '127.0.0.1', port: 0 },
      factory: createTcpFactory(),
      auth: { provider: createScramProvider(), credentials: staticCredentials(USERS) },
      metrics,
    });
    endpoint = await server.start();
    drain = (async () => {
      for await (const ev of server)
        events.push(
          ev.type === 'error'
            ? { type: 'error', code: ev.error.code }
            : ev.type === 'batch'
              ? { type: 'batch', vbucket: ev.vbucket, seqnos: ev.mutations.map((m) => m.seqno) }
              : { type: ev.type },
        );
    })();
  });
  afterAll(async () => {
    await server?.close();
    await drain;
  });

  it('an id outside the announced range closes that connection with TRIB_TRANSPORT_STREAM_ID_RANGE, counted; a real client still streams', {
    timeout: 60_000,
  }, async () => {
    // A real client first, connected through the whole test.
    const client = createMutationStreamClient({
      endpoint,
      factory: createTcpFactory(),
      auth: { provider: createScramProvider(), username: 'alice', password: USERS.alice },
    });
    await client.connect();
    await client.beginVbucket(3, 7n, { startSeqno: 0 });

    const peer = await authenticatedRawPeer(endpoint);
    expect(peer.serverSettings.maxStreams).toBeGreaterThan(0);
    const before = server.stats().malformedFrames;
    peer.frame(FrameKind.StreamOpen, peer.serverSettings.opaqueEnd + 1000); // never announced
    expect(await peer.closeCode()).toBe('TRIB_TRANSPORT_STREAM_ID_RANGE');
    expect(transportCounter('stream_limit_violations')).toBe(1);
    expect(server.stats().malformedFrames).toBe(before + 1);
    await waitFor('the error published', () => events.some((e) => e.code === 'TRIB_MSTREAM_BAD_FRAME'));

    // Requests too: id 0 is in nobody's range.
    const second = await authenticatedRawPeer(endpoint);
    second.frame(FrameKind.Request, 0);
    expect(await second.closeCode()).toBe('TRIB_TRANSPORT_STREAM_ID_RANGE');
    expect(transportCounter('stream_limit_violations')).toBe(2);

    await client.send({
      vbucket: 3,
      seqno: 1,
      vbuuid: 7n,
      key: Buffer.from('still-streaming'),
      value: Buffer.from('{}'),
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    });
    expect(events.filter((e) => e.type === 'batch')).toEqual([{ type: 'batch', vbucket: 3, seqnos: [1] }]);
    await client.close();
  });

  it('a stream open or request carrying a mutation (the protocol only posts) is a malformed frame: closed, counted, nothing delivered', {
    timeout: 60_000,
  }, async () => {
    const batchesBefore = events.filter((e) => e.type === 'batch').length;
    for (const kind of [FrameKind.StreamOpen, FrameKind.Request]) {
      const before = server.stats().malformedFrames;
      const peer = await authenticatedRawPeer(endpoint);
      peer.frame(kind, 1, 1); // message id 1: a mutation
      await peer.closed;
      expect(server.stats().malformedFrames, `frame kind ${kind}`).toBe(before + 1);
    }
    expect(events.filter((e) => e.type === 'batch').length).toBe(batchesBefore);
    expect(server.stats().connections).toBe(0);
  });
});
