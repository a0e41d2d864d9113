// Issue #22: the hello is JSON from the network. A version of "1" is not the version 1, and a
// heartbeat of 1e15 ms (which disabled the peer's liveness check) or of "20" is refused with a
// typed error, on the peer's hello as in the local settings.
import net from 'node:net';
import { encodeTransportFrame, FrameKind, HandshakeStep } from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { isTributaryError, TributaryError } from '@tributary/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport } from '../src/index.js';
import {
  MAX_DEAD_AFTER_HEARTBEATS,
  MAX_HEARTBEAT_MS,
  MIN_FRAME,
  parsePeerHello,
} from '../src/internal/hello.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

const SETTINGS = {
  opaqueStart: 1,
  opaqueEnd: 100,
  maxFrameBytes: 65536,
  heartbeatMs: 1000,
  deadAfterHeartbeats: 3,
  compression: 'none',
};

/** A raw TCP peer that sends `hello` (then ready) and records what it gets back. */
async function rawPeer(hello: unknown): Promise<{ host: string; port: number; received: Buffer[] }> {
  const received: Buffer[] = [];
  const open = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    open.add(s);
    s.on('error', () => {});
    s.on('data', (d) => received.push(d));
    s.write(
      Buffer.concat([
        encodeTransportFrame({
          kind: FrameKind.Handshake,
          messageId: HandshakeStep.Hello,
          payload: Buffer.from(JSON.stringify(hello)),
        }),
        encodeTransportFrame({ kind: FrameKind.Handshake, messageId: HandshakeStep.Ready }),
      ]),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        srv.close(() => r());
      }),
  );
  return { host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, received };
}

async function handshakeWith(hello: unknown, version: number | string = 1) {
  const peer = await rawPeer(hello);
  const conn = await createTcpFactory().connect(peer);
  const t = createTransport(conn, { name: 'victim', version, handshakeTimeoutMs: 5000 });
  cleanups.push(() => t.close());
  const result = await t.handshake().then(
    () => undefined,
    (err: unknown) => err,
  );
  return { t, result, peer };
}

describe('the peer hello is checked for JSON types and ranges (#22)', () => {
  it('a well-formed hello still completes the handshake', async () => {
    const { result, t } = await handshakeWith({ name: 'raw', version: 1, settings: SETTINGS });
    expect(result).toBeUndefined();
    expect(t.peer?.settings.heartbeatMs).toBe(1000);
  });

  it('version "1" does not match version 1, nor 1 match "1"', async () => {
    const a = await handshakeWith({ name: 'raw', version: '1', settings: SETTINGS }, 1);
    expect(isTributaryError(a.result, 'TRIB_TRANSPORT_VERSION_MISMATCH')).toBe(true);
    expect((a.result as Error).message).toContain('local 1, peer "1"');
    const b = await handshakeWith({ name: 'raw', version: 1, settings: SETTINGS }, '1');
    expect(isTributaryError(b.result, 'TRIB_TRANSPORT_VERSION_MISMATCH')).toBe(true);
  });

  it.each([
    ['heartbeatMs', 1e15],
    ['heartbeatMs', MAX_HEARTBEAT_MS + 1],
    ['heartbeatMs', '20'],
    ['heartbeatMs', 2.5],
    ['heartbeatMs', -1],
    ['heartbeatMs', null],
    ['deadAfterHeartbeats', '3'],
    ['deadAfterHeartbeats', 1e12],
    ['deadAfterHeartbeats', 0],
    ['maxFrameBytes', '65536'],
    ['maxFrameBytes', 2 ** 40],
    ['opaqueStart', '1'],
    ['maxStreams', 2 ** 40],
  ])('%s = %j fails the handshake with TRIB_TRANSPORT_SETTINGS_MISMATCH and tells the peer', async (k, v) => {
    const { result, t, peer } = await handshakeWith({
      name: 'raw',
      version: 1,
      settings: { ...SETTINGS, [k]: v },
    });
    expect(isTributaryError(result, 'TRIB_TRANSPORT_SETTINGS_MISMATCH')).toBe(true);
    expect(t.isClosed).toBe(true);
    const deadline = Date.now() + 5000;
    while (!Buffer.concat(peer.received).includes('TRIB_TRANSPORT_SETTINGS_MISMATCH')) {
      if (Date.now() > deadline) throw new Error('the peer was not told why');
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  it.each([
    [{ name: 42, version: 1, settings: SETTINGS }, 'TRIB_TRANSPORT_PROTOCOL'],
    [[1, 2], 'TRIB_TRANSPORT_PROTOCOL'],
    [{ name: 'raw', version: 1, settings: [] }, 'TRIB_TRANSPORT_PROTOCOL'],
    [
      { name: 'raw', version: 1, settings: SETTINGS, auth: { server: { mechanisms: 'PLAIN' } } },
      'TRIB_AUTH_FAILED',
    ],
    [{ name: 'raw', version: 1, settings: SETTINGS, auth: 'yes' }, 'TRIB_AUTH_FAILED'],
  ])('hello %j fails with %s', async (hello, want) => {
    const { result } = await handshakeWith(hello);
    expect(isTributaryError(result, want)).toBe(true);
  });

  it('local settings and version get the same bounds (TRIB_INVALID_ARGUMENT)', async () => {
    const peer = await rawPeer({});
    for (const [version, settings] of [
      [1, { heartbeatMs: 1e15 }],
      [1, { heartbeatMs: 10.5 }],
      [1, { deadAfterHeartbeats: 1e9 }],
      [-1, {}],
      [1.5, {}],
      ['', {}],
    ] as const) {
      const conn = await createTcpFactory().connect(peer);
      cleanups.push(() => {
        conn.destroy();
      });
      let err: unknown;
      try {
        createTransport(conn, { version, settings });
      } catch (e) {
        err = e;
      }
      expect(isTributaryError(err, 'TRIB_INVALID_ARGUMENT'), `${version} ${JSON.stringify(settings)}`).toBe(
        true,
      );
    }
  });

  it('property: any JSON is either a hello within every bound or a typed refusal', () => {
    const setting = fc.oneof(
      fc.integer({ min: -10, max: 2 ** 33 }),
      fc.double(),
      fc.string({ maxLength: 4 }),
      fc.constant(null),
      fc.boolean(),
    );
    const hello = fc.record(
      {
        name: fc.oneof(fc.string(), fc.integer()),
        version: fc.oneof(
          fc.constant(1),
          fc.constant('1'),
          fc.integer({ min: -1, max: 3 }),
          fc.string({ maxLength: 3 }),
        ),
        settings: fc.oneof(
          fc.record(
            {
              opaqueStart: fc.oneof(fc.constant(1), setting),
              opaqueEnd: fc.oneof(fc.constant(100), setting),
              maxFrameBytes: fc.oneof(fc.constant(65536), setting),
              heartbeatMs: fc.oneof(fc.constant(1000), setting),
              deadAfterHeartbeats: fc.oneof(fc.constant(3), setting),
              compression: fc.oneof(fc.constant('none'), setting),
              maxStreams: setting,
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue(),
        ),
        auth: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(hello, fc.jsonValue()), (h) => {
        let out: ReturnType<typeof parsePeerHello>;
        try {
          out = parsePeerHello(Buffer.from(JSON.stringify(h) ?? 'null'), { version: 1, compression: 'none' });
        } catch (err) {
          expect(err).toBeInstanceOf(TributaryError);
          expect([
            'TRIB_TRANSPORT_PROTOCOL',
            'TRIB_TRANSPORT_VERSION_MISMATCH',
            'TRIB_TRANSPORT_SETTINGS_MISMATCH',
            'TRIB_AUTH_FAILED',
          ]).toContain((err as TributaryError).code);
          return;
        }
        const s = out.settings;
        expect(out.version).toBe(1);
        expect(
          Number.isInteger(s.heartbeatMs) && s.heartbeatMs >= 0 && s.heartbeatMs <= MAX_HEARTBEAT_MS,
        ).toBe(true);
        expect(
          Number.isInteger(s.deadAfterHeartbeats) && s.deadAfterHeartbeats <= MAX_DEAD_AFTER_HEARTBEATS,
        ).toBe(true);
        expect(Number.isInteger(s.maxFrameBytes) && s.maxFrameBytes >= MIN_FRAME).toBe(true);
        expect(Number.isInteger(s.opaqueStart) && s.opaqueEnd > s.opaqueStart).toBe(true);
      }),
    );
  });

  it('a hello that is not JSON is a protocol error', () => {
    expect(() => parsePeerHello(Buffer.from('{'), { version: 1, compression: 'none' })).toThrow(
      expect.objectContaining({ code: 'TRIB_TRANSPORT_PROTOCOL' }),
    );
  });
});
