import type tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type Connection, createRegistry, isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { createTlsFactory, plugin } from '../src/index.js';
import { fixtures } from './fixtures.js';

const local = { host: '127.0.0.1', port: 0 };
const serverFactory = (extra = {}) =>
  createTlsFactory({ ca: fixtures.ca, cert: fixtures.serverCert, key: fixtures.serverKey, ...extra });

async function failure(p: () => Promise<unknown>): Promise<unknown> {
  try {
    const c = (await p()) as Connection;
    c.destroy();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Connects and waits until the server either hands the connection over or the client is cut off. */
async function outcome(client: ReturnType<typeof createTlsFactory>, port: number, accepted: () => number) {
  let conn: Connection;
  try {
    conn = await client.connect({ host: '127.0.0.1', port }, { timeoutMs: 5_000 });
  } catch (err) {
    return { err };
  }
  // TLS 1.3: the client finishes before the server has checked the client certificate.
  const cut = await new Promise<boolean>((resolve) => {
    conn.on('error', () => resolve(true));
    conn.once('close', () => resolve(true));
    conn.once('end', () => resolve(true));
    conn.once('data', () => resolve(false));
    conn.write('hello?');
  });
  conn.destroy();
  return { cut, accepted: accepted() };
}

describe('connection-tls', () => {
  it('refuses a server whose certificate does not chain to the trusted CA (rejectUnauthorized default)', async () => {
    const server = serverFactory();
    const listener = await server.listen(local, (c) => c.end());
    try {
      const err = await failure(() => createTlsFactory({ ca: fixtures.otherCa }).connect(listener.address()));
      expect(isTributaryError(err, 'TRIB_CONNECT_FAILED')).toBe(true);
      expect((err as { retriable: boolean }).retriable).toBe(false);
      // With no CA at all, Node's public roots do not know the test CA either.
      expect(
        isTributaryError(
          await failure(() => createTlsFactory().connect(listener.address())),
          'TRIB_CONNECT_FAILED',
        ),
      ).toBe(true);
      // Explicitly opting out connects, but the connection does not claim to be secure: the
      // server was not proven, so SASL PLAIN must not send a password over it.
      const insecure = await createTlsFactory({ rejectUnauthorized: false }).connect(listener.address());
      expect(insecure.secure).toBe(false);
      insecure.destroy();
    } finally {
      await listener.close();
    }
  });

  it('checks the server name: right servername passes, a wrong one fails', async () => {
    const listener = await serverFactory().listen(local, (c) => c.end());
    try {
      const ok = await createTlsFactory({ ca: fixtures.ca, servername: 'localhost' }).connect(
        listener.address(),
      );
      expect((ok as unknown as tls.TLSSocket).authorized).toBe(true);
      ok.destroy();
      const err = await failure(() =>
        createTlsFactory({ ca: fixtures.ca, servername: 'evil.example' }).connect(listener.address()),
      );
      expect(isTributaryError(err, 'TRIB_CONNECT_FAILED')).toBe(true);
    } finally {
      await listener.close();
    }
  });

  it('mutual TLS: a client with a CA-signed certificate is served and identified', async () => {
    let peerCn = '';
    const listener = await serverFactory({ requestCert: true }).listen(local, (c) => {
      peerCn = String((c as unknown as tls.TLSSocket).getPeerCertificate().subject?.CN);
      c.end('welcome');
    });
    try {
      const client = createTlsFactory({
        ca: fixtures.ca,
        cert: fixtures.clientCert,
        key: fixtures.clientKey,
      });
      const conn = await client.connect(listener.address());
      const data = await new Promise<Buffer>((r) => conn.once('data', r));
      expect(data.toString()).toBe('welcome');
      expect(peerCn).toBe('tributary-client');
      conn.destroy();
    } finally {
      await listener.close();
    }
  });

  it('mutual TLS: no certificate or one from another CA never reaches onConnection', async () => {
    let n = 0;
    const listener = await serverFactory({ requestCert: true }).listen(local, (c) => {
      n++;
      c.end('welcome');
    });
    try {
      const port = listener.address().port;
      const none = await outcome(createTlsFactory({ ca: fixtures.ca }), port, () => n);
      expect('err' in none ? isTributaryError(none.err) : none.cut).toBe(true);
      const intruder = await outcome(
        createTlsFactory({ ca: fixtures.ca, cert: fixtures.intruderCert, key: fixtures.intruderKey }),
        port,
        () => n,
      );
      expect('err' in intruder ? isTributaryError(intruder.err) : intruder.cut).toBe(true);
      expect(n).toBe(0);
    } finally {
      await listener.close();
    }
  });

  it('registers as the "tls" plugin and reads PEM files', async () => {
    const registry = createRegistry();
    registry.register(plugin);
    const file = (n: string) => fileURLToPath(new URL(`./fixtures/${n}`, import.meta.url));
    const server = await registry.create('connection-factory', 'tls', {
      certFile: file('server.crt'),
      keyFile: file('server.key'),
    });
    const client = await registry.create('connection-factory', 'tls', { caFile: file('ca.crt') });
    const listener = await server.listen(local, (c) => c.end('hi'));
    try {
      const conn = await client.connect(listener.address());
      expect(conn.secure).toBe(true);
      expect((await new Promise<Buffer>((r) => conn.once('data', r))).toString()).toBe('hi');
      conn.destroy();
    } finally {
      await listener.close();
    }
    const err = await failure(async () =>
      registry.create('connection-factory', 'tls', { rejectUnauthorized: 'no' }),
    );
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
  });

  it('a listener without a certificate fails to start with a typed error or refuses handshakes', async () => {
    const bad = createTlsFactory({});
    let err: unknown;
    let listener: Awaited<ReturnType<typeof bad.listen>> | undefined;
    try {
      listener = await bad.listen(local, (c) => c.end());
    } catch (e) {
      err = e;
    }
    if (listener) {
      // Node accepts a cert-less server; no client can complete a handshake with it.
      const r = await failure(() =>
        createTlsFactory({ ca: fixtures.ca }).connect(listener!.address(), { timeoutMs: 3_000 }),
      );
      expect(isTributaryError(r)).toBe(true);
      await listener.close();
    } else {
      expect(isTributaryError(err)).toBe(true);
    }
  });
});
