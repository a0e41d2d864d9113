import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionFactory, Endpoint, Listener } from '../contracts/connection-factory.js';
import { isTributaryError } from '../errors.js';

/** A place where `connect()` stays pending (no accept, no refusal), on this machine only. */
export interface UnresponsiveEndpoint {
  endpoint: Endpoint;
  close(): Promise<void>;
}

export interface ConnectionFactoryConformanceOptions {
  create: () => Promise<ConnectionFactory>;
  /**
   * The factory that connects, when it must differ from the listening one (e.g. mutual TLS, where
   * the client presents its own certificate). Defaults to `create`.
   */
  createClient?: () => Promise<ConnectionFactory>;
  /** Where to listen (port 0 allowed). */
  listenEndpoint: Endpoint;
  /** What `connection.secure` must say on both ends (default false). */
  secure?: boolean;
  /**
   * Makes an endpoint where connecting hangs, for the timeout and abort cases. Defaults to
   * `'tcp-backlog'`: a listener in a child process whose event loop is blocked, with its accept
   * queue filled, so further SYNs are dropped by the kernel and connects stay pending on 127.0.0.1.
   */
  unresponsiveEndpoint?: 'tcp-backlog' | (() => Promise<UnresponsiveEndpoint>);
  /**
   * The factories given create half-open connections (allowHalfOpen: true), so the kit also checks
   * that a peer can still answer after receiving end().
   */
  halfOpen?: boolean;
  /** Bytes for the echo integrity case (default 10 MiB). */
  echoBytes?: number;
}

const CHILD = `
const net = require('node:net');
const s = net.createServer();
s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  // stdout to a pipe is synchronous on POSIX, so the port is out before the loop blocks.
  process.stdout.write(String(s.address().port) + '\\n');
  // Block the event loop without burning CPU: nothing is ever accepted.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
});
`;

/** See `unresponsiveEndpoint`. The child exits by itself after 2 minutes if never closed. */
export async function tcpBacklogBlackhole(): Promise<UnresponsiveEndpoint> {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(Number(buf.trim()));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`blackhole child exited early (${code})`)));
  });
  const fillers: net.Socket[] = [];
  // Fill the accept queue: connects complete in the kernel until it is full, then hang.
  for (let i = 0; i < 64; i++) {
    const outcome = await new Promise<'connected' | 'pending'>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      fillers.push(s);
      s.on('error', () => {});
      const t = setTimeout(() => resolve('pending'), 150);
      s.once('connect', () => {
        clearTimeout(t);
        resolve('connected');
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    if (outcome === 'pending') break;
  }
  return {
    endpoint: { host: '127.0.0.1', port },
    close: async () => {
      for (const s of fillers) s.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

function sha256(chunks: Buffer[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for '${event}'`)), timeoutMs);
    emitter.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

/** Resolves when the stream learns its peer is gone: 'end' (FIN), 'error' (reset) or 'close'. */
function seenGone(c: Connection, timeoutMs = 10_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('peer destroy was not seen')), timeoutMs);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    c.once('end', done);
    c.once('error', done);
    c.once('close', done);
  });
}

/** Collects every connection a listener accepts, resolving them in order. */
function acceptQueue() {
  const accepted: Connection[] = [];
  const waiting: ((c: Connection) => void)[] = [];
  return {
    onConnection(c: Connection) {
      c.on('error', () => {}); // resets are part of these tests; errors are asserted where it matters
      const w = waiting.shift();
      if (w) w(c);
      else accepted.push(c);
    },
    next(): Promise<Connection> {
      const c = accepted.shift();
      if (c) return Promise.resolve(c);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<unknown> {
  let err: unknown;
  try {
    const c = await p;
    (c as Connection | undefined)?.destroy?.();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeDefined();
  expect(isTributaryError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  return err;
}

/** The cases every connection-factory plugin must pass. */
export function runConnectionFactoryConformance(
  name: string,
  options: ConnectionFactoryConformanceOptions,
): void {
  const secure = options.secure ?? false;
  const echoBytes = options.echoBytes ?? 10 * 1024 * 1024;
  const unresponsive = async (): Promise<UnresponsiveEndpoint> => {
    const u = options.unresponsiveEndpoint ?? 'tcp-backlog';
    return u === 'tcp-backlog' ? tcpBacklogBlackhole() : u();
  };

  async function withListener<T>(
    onConnection: (c: Connection) => void,
    body: (factory: ConnectionFactory, listener: Listener) => Promise<T>,
  ): Promise<T> {
    const factory = await options.create();
    const client = options.createClient ? await options.createClient() : factory;
    const listener = await factory.listen(options.listenEndpoint, onConnection);
    try {
      return await body(client, listener);
    } finally {
      await listener.close();
    }
  }

  describe(`connection-factory conformance: ${name}`, () => {
    it('has a name and resolves the listen address (port 0 → a real port)', async () => {
      const factory = await options.create();
      expect(typeof factory.name).toBe('string');
      expect(factory.name.length).toBeGreaterThan(0);
      const listener = await factory.listen(options.listenEndpoint, (c) => c.destroy());
      try {
        const a = listener.address();
        expect(typeof a.host).toBe('string');
        expect(a.port).toBeGreaterThan(0);
        if (options.listenEndpoint.port !== 0) expect(a.port).toBe(options.listenEndpoint.port);
      } finally {
        await listener.close();
        await listener.close(); // idempotent
      }
    });

    it('connects to a listener and echoes bytes; both ends report secure and a remote address', async () => {
      const q = acceptQueue();
      await withListener(
        (c) => {
          q.onConnection(c);
          c.pipe(c);
        },
        async (factory, listener) => {
          const conn = await factory.connect(listener.address());
          try {
            const server = await q.next();
            expect(conn.secure).toBe(secure);
            expect(server.secure).toBe(secure);
            expect(conn.remoteAddress).toBeDefined();
            expect(conn.remotePort).toBe(listener.address().port);
            expect(server.remoteAddress).toBeDefined();
            const got = once<Buffer>(conn, 'data');
            conn.write('ping');
            expect((await got).toString()).toBe('ping');
          } finally {
            conn.destroy();
          }
        },
      );
    });

    it(`echoes ${echoBytes} bytes with integrity`, { timeout: 60_000 }, async () => {
      await withListener(
        (c) => {
          c.on('error', () => {});
          c.pipe(c);
        },
        async (factory, listener) => {
          const conn = await factory.connect(listener.address());
          try {
            const sent: Buffer[] = [];
            const received: Buffer[] = [];
            let receivedBytes = 0;
            const done = new Promise<void>((resolve, reject) => {
              conn.on('data', (d: Buffer) => {
                received.push(d);
                receivedBytes += d.length;
                if (receivedBytes >= echoBytes) resolve();
              });
              conn.once('error', reject);
              conn.once('close', () =>
                receivedBytes >= echoBytes ? resolve() : reject(new Error('closed early')),
              );
            });
            // Write with back-pressure: wait for 'drain' whenever write() says so.
            const chunk = 64 * 1024;
            for (let off = 0; off < echoBytes; off += chunk) {
              const piece = randomBytes(Math.min(chunk, echoBytes - off));
              sent.push(piece);
              if (!conn.write(piece)) await once(conn, 'drain', 30_000);
            }
            await done;
            expect(receivedBytes).toBe(echoBytes);
            expect(sha256(received)).toBe(sha256(sent));
          } finally {
            conn.destroy();
          }
        },
      );
    });

    it('honours back-pressure: write() returns false while the peer does not read, drain follows reading', async () => {
      const q = acceptQueue();
      await withListener(
        (c) => {
          c.pause();
          q.onConnection(c);
        },
        async (factory, listener) => {
          const conn = await factory.connect(listener.address());
          try {
            const server = await q.next();
            server.pause();
            const piece = Buffer.alloc(64 * 1024, 7);
            const limit = 256 * 1024 * 1024; // kernel and TLS buffers are large but bounded
            let written = 0;
            let stalled = false;
            let pendingDrain: Promise<unknown> | undefined;
            // Write until the writer stalls: write() says false and no 'drain' comes while the peer
            // does not read (a false followed by a quick drain only means a buffer was flushed).
            while (!stalled && written < limit) {
              if (conn.write(piece)) {
                written += piece.length;
                if (written % (4 * 1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
                continue;
              }
              written += piece.length;
              const drain = once(conn, 'drain', 30_000);
              const quick = await Promise.race([
                drain.then(() => 'drained' as const),
                new Promise<'stalled'>((r) => setTimeout(() => r('stalled'), 250)),
              ]);
              if (quick === 'stalled') {
                stalled = true;
                pendingDrain = drain;
              }
            }
            expect(stalled).toBe(true);
            expect(written).toBeLessThan(limit);
            let drained = false;
            const drain = pendingDrain!.then(() => {
              drained = true;
            });
            let got = 0;
            server.on('data', (d: Buffer) => {
              got += d.length;
            });
            server.resume();
            await drain;
            expect(drained).toBe(true);
            const deadline = Date.now() + 30_000;
            while (got < written && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
            expect(got).toBe(written);
          } finally {
            conn.destroy();
          }
        },
      );
    });

    it('rejects with TRIB_ABORTED when the signal is already aborted', async () => {
      await withListener(
        (c) => c.destroy(),
        async (factory, listener) => {
          await expectCode(
            factory.connect(listener.address(), { signal: AbortSignal.abort() }),
            'TRIB_ABORTED',
          );
        },
      );
    });

    it('rejects with TRIB_ABORTED when aborted during connect', async () => {
      const factory = await (options.createClient ?? options.create)();
      const u = await unresponsive();
      try {
        const ac = new AbortController();
        const p = factory.connect(u.endpoint, { signal: ac.signal, timeoutMs: 10_000 });
        setTimeout(() => ac.abort(), 50);
        const started = Date.now();
        await expectCode(p, 'TRIB_ABORTED');
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await u.close();
      }
    });

    it('rejects with TRIB_CONNECT_TIMEOUT when nothing answers in time', async () => {
      const factory = await (options.createClient ?? options.create)();
      const u = await unresponsive();
      try {
        const started = Date.now();
        const err = await expectCode(factory.connect(u.endpoint, { timeoutMs: 200 }), 'TRIB_CONNECT_TIMEOUT');
        expect(Date.now() - started).toBeGreaterThanOrEqual(150);
        expect((err as { retriable: boolean }).retriable).toBe(true);
      } finally {
        await u.close();
      }
    });

    it('rejects with TRIB_CONNECT_REFUSED on a closed port', async () => {
      const factory = await options.create();
      const listener = await factory.listen(options.listenEndpoint, (c) => c.destroy());
      const endpoint = listener.address();
      await listener.close();
      const client = options.createClient ? await options.createClient() : factory;
      await expectCode(client.connect(endpoint, { timeoutMs: 5_000 }), 'TRIB_CONNECT_REFUSED');
    });

    it('end() is seen by the peer after every byte sent before it, and the connection closes', async () => {
      const q = acceptQueue();
      await withListener(q.onConnection, async (factory, listener) => {
        const conn = await factory.connect(listener.address());
        conn.on('error', () => {});
        try {
          const server = await q.next();
          const serverGot: Buffer[] = [];
          server.on('data', (d: Buffer) => serverGot.push(d));
          const serverEnded = once(server, 'end');
          conn.resume();
          conn.end('last words');
          await serverEnded;
          expect(Buffer.concat(serverGot).toString()).toBe('last words');
          if (!server.writableEnded) server.end(); // half-open factories leave this to us
          if (!conn.closed) await once(conn, 'close');
          if (!server.closed) await once(server, 'close');
        } finally {
          conn.destroy();
        }
      });
    });

    if (options.halfOpen) {
      it('half-close: with allowHalfOpen the peer can still answer after end()', async () => {
        const q = acceptQueue();
        await withListener(q.onConnection, async (factory, listener) => {
          const conn = await factory.connect(listener.address());
          conn.on('error', () => {});
          try {
            const server = await q.next();
            const serverGot: Buffer[] = [];
            server.on('data', (d: Buffer) => serverGot.push(d));
            const serverEnded = once(server, 'end');
            conn.end('last words');
            await serverEnded;
            expect(Buffer.concat(serverGot).toString()).toBe('last words');
            // The other direction is still open.
            const clientGot: Buffer[] = [];
            conn.on('data', (d: Buffer) => clientGot.push(d));
            const clientEnded = once(conn, 'end');
            server.end('reply after half-close');
            await clientEnded;
            expect(Buffer.concat(clientGot).toString()).toBe('reply after half-close');
            if (!conn.closed) await once(conn, 'close');
          } finally {
            conn.destroy();
          }
        });
      });
    }

    it('destroy() on the client is seen by the server', async () => {
      const q = acceptQueue();
      await withListener(q.onConnection, async (factory, listener) => {
        const conn = await factory.connect(listener.address());
        const server = await q.next();
        server.resume();
        const gone = seenGone(server);
        conn.destroy();
        await gone;
        // Whatever way the peer learnt it (FIN or reset), ending its side closes it fully.
        const closed = server.closed ? Promise.resolve() : once(server, 'close');
        server.end();
        await closed;
        expect(server.destroyed).toBe(true);
      });
    });

    it('destroy() on the server is seen by the client', async () => {
      const q = acceptQueue();
      await withListener(q.onConnection, async (factory, listener) => {
        const conn = await factory.connect(listener.address());
        conn.on('error', () => {});
        conn.resume();
        const server = await q.next();
        const gone = seenGone(conn);
        server.destroy();
        await gone;
        const closed = conn.closed ? Promise.resolve() : once(conn, 'close');
        conn.end();
        await closed;
        expect(conn.destroyed).toBe(true);
      });
    });

    it('serves many concurrent connections, each with its own bytes', async () => {
      await withListener(
        (c) => {
          c.on('error', () => {});
          c.pipe(c);
        },
        async (factory, listener) => {
          const conns = await Promise.all(
            Array.from({ length: 20 }, () => factory.connect(listener.address())),
          );
          try {
            const replies = await Promise.all(
              conns.map(async (c, i) => {
                const got = once<Buffer>(c, 'data');
                c.write(`conn-${i}`);
                return (await got).toString();
              }),
            );
            expect(replies).toEqual(conns.map((_, i) => `conn-${i}`));
          } finally {
            for (const c of conns) c.destroy();
          }
        },
      );
    });

    it('stops accepting after listener.close()', async () => {
      const factory = await options.create();
      const listener = await factory.listen(options.listenEndpoint, (c) => c.destroy());
      const endpoint = listener.address();
      await listener.close();
      const client = options.createClient ? await options.createClient() : factory;
      let err: unknown;
      try {
        const c = await client.connect(endpoint, { timeoutMs: 2_000 });
        c.destroy();
      } catch (e) {
        err = e;
      }
      expect(isTributaryError(err)).toBe(true);
    });
  });
}
