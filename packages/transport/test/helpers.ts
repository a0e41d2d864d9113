import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { Connection, ConnectionFactory, Endpoint, Listener } from '@tributary/core';
import { createTransport, type Transport, type TransportOptions } from '../src/index.js';

export const LOCAL: Endpoint = { host: '127.0.0.1', port: 0 };

/** Polls `cond` until true or the deadline passes (then throws with `what`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let certs: { key: Buffer; cert: Buffer } | undefined;
/** A self-signed certificate for 127.0.0.1/localhost, made once per test process with openssl. */
export function selfSigned(): { key: Buffer; cert: Buffer } {
  if (certs) return certs;
  const dir = mkdtempSync(join(tmpdir(), 'trib-transport-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  certs = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  return certs;
}

function asConnection(socket: net.Socket, secure: boolean): Connection {
  Object.defineProperty(socket, 'secure', { value: secure, enumerable: true, configurable: true });
  return socket as unknown as Connection;
}

/**
 * A real TLS connection factory over node:tls (self-signed, verified against its own cert). The
 * connection-tls plugin has its own; this one keeps these tests independent of it.
 */
export function testTlsFactory(): ConnectionFactory {
  const { key, cert } = selfSigned();
  return {
    name: 'test-tls',
    connect(endpoint) {
      return new Promise((resolve, reject) => {
        const s = tls.connect({
          host: endpoint.host,
          port: endpoint.port,
          ca: [cert],
          servername: 'localhost',
        });
        s.once('secureConnect', () => {
          s.setNoDelay(true);
          resolve(asConnection(s, true));
        });
        s.once('error', reject);
      });
    },
    listen(endpoint, onConnection) {
      return new Promise<Listener>((resolve, reject) => {
        const server = tls.createServer({ key, cert }, (s) => {
          s.setNoDelay(true);
          onConnection(asConnection(s, true));
        });
        server.once('error', reject);
        server.listen(endpoint.port, endpoint.host, () => {
          const a = server.address() as net.AddressInfo;
          resolve({
            address: () => ({ host: a.address, port: a.port }),
            close: () => new Promise<void>((r) => server.close(() => r())),
          });
        });
      });
    },
  };
}

export const factories: Record<'tcp' | 'tls', () => ConnectionFactory> = {
  tcp: () => createTcpFactory(),
  tls: () => testTlsFactory(),
};

/** Two connected Connections from `factory` (client side first). */
export async function connectionPair(
  factory: ConnectionFactory,
): Promise<{ a: Connection; b: Connection; close(): Promise<void> }> {
  let accepted!: (c: Connection) => void;
  const got = new Promise<Connection>((r) => {
    accepted = r;
  });
  const listener = await factory.listen(LOCAL, (c) => accepted(c));
  const a = await factory.connect(listener.address());
  const b = await got;
  return {
    a,
    b,
    close: async () => {
      a.destroy();
      b.destroy();
      await listener.close();
    },
  };
}

/** Two transports over a real connection pair, not yet handshaken. */
export async function transportPair(
  factory: ConnectionFactory,
  a: Partial<TransportOptions> = {},
  b: Partial<TransportOptions> = {},
): Promise<{ client: Transport; server: Transport; close(): Promise<void> }> {
  const pair = await connectionPair(factory);
  const client = createTransport(pair.a, { name: 'client', version: 1, ...a });
  const server = createTransport(pair.b, { name: 'server', version: 1, ...b });
  return {
    client,
    server,
    close: async () => {
      await Promise.allSettled([client.close(), server.close()]);
      await pair.close();
    },
  };
}

/** A raw socket to a listener, for peers that misbehave on purpose. */
export function rawConnect(endpoint: Endpoint): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(endpoint.port, endpoint.host, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * A TCP relay in front of `target` that can black-hole traffic (read and drop both ways, links
 * stay open): a dead network path, the way heartbeats must detect it. Works for TLS too (bytes).
 */
export async function startRelay(target: Endpoint): Promise<{
  endpoint: Endpoint;
  blackhole(on: boolean): void;
  links: () => number;
  close(): Promise<void>;
}> {
  let dropping = false;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    const server = net.connect(target.port, target.host);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        // A dead path carries no FIN either: while black-holed the other side stays open.
        if (dropping) return;
        client.destroy();
        server.destroy();
      });
    }
    client.on('data', (d) => {
      if (!dropping) server.write(d);
    });
    server.on('data', (d) => {
      if (!dropping) client.write(d);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const a = srv.address() as net.AddressInfo;
  return {
    endpoint: { host: '127.0.0.1', port: a.port },
    blackhole: (on) => {
      dropping = on;
    },
    links: () => sockets.size / 2,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}
