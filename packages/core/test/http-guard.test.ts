import { type ChildProcess, spawn } from 'node:child_process';
import type http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createGuardedHttpServer, createLogger, type HttpGuardOptions } from '../src/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function counters() {
  const values = new Map<string, number>();
  const make = (name: string) => ({
    get value() {
      return values.get(name) ?? 0;
    },
    inc: (n = 1) => values.set(name, (values.get(name) ?? 0) + n),
    dec: (n = 1) => values.set(name, (values.get(name) ?? 0) - n),
    set: (v: number) => values.set(name, v),
    observe() {},
  });
  return { values, scope: { counter: make, gauge: make, histogram: make } };
}

async function start(options: HttpGuardOptions, handler?: http.RequestListener) {
  const { values, scope } = counters();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write(c, _e, cb) {
        for (const l of String(c).split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    }),
  });
  const { server, guard } = createGuardedHttpServer(
    { log, metrics: scope, ...options },
    handler ?? ((_req, res) => res.writeHead(200, { 'content-length': 2 }).end('ok')),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        guard.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, guard, values, lines, server };
}

/** One raw request; resolves with the status code, or 'reset'/'closed' when none came. */
function rawRequest(
  port: number,
  bytes: string,
  keepOpen = false,
): Promise<{ status: number | string; socket: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (status: number | string) => {
      if (done) return;
      done = true;
      if (!keepOpen) socket.destroy();
      resolve({ status, socket });
    };
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m && got.includes('\r\n\r\n')) finish(Number(m[1]));
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNRESET' ? 'reset' : String(err.code)),
    );
    socket.on('close', () => finish('closed'));
  });
}

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

describe('createGuardedHttpServer', () => {
  it('slowloris: 300 connections trickling headers are closed at the header timeout; a normal client is served meanwhile', async () => {
    const s = await start({ headersTimeoutMs: 600 });
    const sockets: net.Socket[] = [];
    const closedAt: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 300; i++) {
      const sock = net.connect(s.port, '127.0.0.1');
      sock.on('error', () => {});
      sock.on('close', () => closedAt.push(Date.now() - t0));
      sockets.push(sock);
    }
    // One header byte per socket every 50 ms: never a complete request.
    const header = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(10_000);
    let pos = 0;
    const trickle = setInterval(() => {
      for (const sock of sockets) if (!sock.destroyed) sock.write(header[pos % header.length]);
      pos++;
    }, 50);
    cleanups.push(() => clearInterval(trickle));
    expect((await rawRequest(s.port, GET)).status).toBe(200);
    while (closedAt.length < 300) {
      if (Date.now() - t0 > 10_000) throw new Error(`only ${closedAt.length} of 300 closed`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Closed at the header deadline (600 ms), give or take the checking period and this 2-core box.
    expect(Math.min(...closedAt)).toBeGreaterThanOrEqual(550);
    expect(Math.max(...closedAt)).toBeLessThan(5000);
    expect(s.values.get('request_timeouts')).toBe(300);
    // 300 timeouts, one log line (the rest counted for the summary).
    expect(s.lines.filter((l) => l.code === 'ERR_HTTP_REQUEST_TIMEOUT')).toHaveLength(1);
    expect(s.guard.repeats.pending()['clientError:ERR_HTTP_REQUEST_TIMEOUT']).toBe(299);
  }, 30_000);

  it('past maxConnections a connection is answered 503 with a TRIB_ code, counted, logged once', async () => {
    const s = await start({ maxConnections: 5, keepAliveTimeoutMs: 60_000 });
    const held = await Promise.all(Array.from({ length: 5 }, () => rawRequest(s.port, GET, true)));
    expect(held.map((h) => h.status)).toEqual([200, 200, 200, 200, 200]);
    cleanups.push(() => {
      for (const h of held) h.socket.destroy();
    });
    const refused = await Promise.all(Array.from({ length: 20 }, () => rawRequest(s.port, GET)));
    expect(refused.map((r) => r.status)).toEqual(Array(20).fill(503));
    expect(s.values.get('connections_refused')).toBe(20);
    expect(
      s.lines.filter((l) => l.msg === 'connection refused with 503: at the connection cap'),
    ).toHaveLength(1);
    expect(s.guard.repeats.pending().refused).toBe(19);
    // A slot frees when a held connection goes.
    held[0].socket.destroy();
    while (s.guard.open > 4) await new Promise((r) => setTimeout(r, 5));
    expect((await rawRequest(s.port, GET)).status).toBe(200);
  });

  it('a request Node cannot parse gets a 400 and is counted; a throwing handler gets a 500 and the server lives', async () => {
    const s = await start({}, (req, res) => {
      if (req.url === '/throw') throw new Error('handler bug');
      res.writeHead(200, { 'content-length': 2 }).end('ok');
    });
    expect((await rawRequest(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')).status).toBe(400);
    expect((await rawRequest(s.port, '\x00\x01\x02garbage\r\n\r\n')).status).toBe(400);
    expect(
      (await rawRequest(s.port, `GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`)).status,
    ).toBe(431);
    expect(s.values.get('client_errors')).toBe(3);
    for (let i = 0; i < 3; i++)
      expect((await rawRequest(s.port, 'GET /throw HTTP/1.1\r\nHost: x\r\n\r\n')).status).toBe(500);
    expect(s.values.get('handler_errors')).toBe(3);
    expect(s.lines.filter((l) => l.msg === 'request handler failed')).toHaveLength(1);
    expect((await rawRequest(s.port, GET)).status).toBe(200);
  });

  it('a client that stops reading a response is dropped at the idle timeout; long-lived responses opt out', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 0x61);
    const guard = () => s.guard;
    const s = await start({ idleTimeoutMs: 300 }, (req, res) => {
      if (req.url === '/stream') {
        guard().longLived(res);
        res.writeHead(200);
        res.write('x');
        return;
      }
      res.writeHead(200, { 'content-length': big.length }).end(big);
    });
    const stalled = net.connect(s.port, '127.0.0.1');
    stalled.on('error', () => {});
    stalled.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause(); // never reads (so it would not see the close either: watch the server)
    cleanups.push(() => stalled.destroy());
    while (s.guard.open === 0) await new Promise((r) => setTimeout(r, 5));
    while (s.guard.open > 0) await new Promise((r) => setTimeout(r, 5));
    expect(s.values.get('idle_timeouts')).toBe(1);
    // A long-lived response that writes nothing for longer than the idle timeout stays open.
    const streaming = await rawRequest(s.port, 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n', true);
    cleanups.push(() => streaming.socket.destroy());
    expect(streaming.status).toBe(200);
    await new Promise((r) => setTimeout(r, 900)); // three idle timeouts: the condition under test is time itself
    expect(streaming.socket.destroyed).toBe(false);
    expect(s.values.get('idle_timeouts')).toBe(1);
  }, 30_000);
});

describe('under ulimit -n 1024, 1,500 clients are each answered (200 or 503), none reset', () => {
  it('holds what the fd limit allows and refuses the rest with 503, logging the refusals once with a count', async () => {
    const child: ChildProcess = spawn(
      '/bin/sh',
      [
        '-c',
        `ulimit -n 1024 && exec "${process.execPath}" --conditions=@tributary/source --import tsx "${join(__dirname, 'fixtures', 'guarded-child.ts')}"`,
      ],
      { cwd: __dirname, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    cleanups.push(() => child.kill('SIGKILL'));
    const lines: Record<string, unknown>[] = [];
    const waiters: ((l: Record<string, unknown>) => boolean)[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const j = JSON.parse(l) as Record<string, unknown>;
      lines.push(j);
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i](j)) waiters.splice(i, 1);
    });
    const next = (pred: (l: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const found = lines.find(pred);
        if (found) return resolve(found);
        waiters.push((l) => {
          if (!pred(l)) return false;
          resolve(l);
          return true;
        });
      });
    const { port, maxConnections } = (await next((l) => 'port' in l)) as {
      port: number;
      maxConnections: number;
    };
    expect(maxConnections).toBeLessThan(1024);
    const statuses: (number | string)[] = [];
    const open: net.Socket[] = [];
    cleanups.push(() => {
      for (const s of open) s.destroy();
    });
    // 30 waves of 50 at once (each wave within the REFUSAL_SLOTS the process keeps for 503s).
    for (let wave = 0; wave < 30; wave++) {
      const got = await Promise.all(Array.from({ length: 50 }, () => rawRequest(port, GET, true)));
      for (const g of got) {
        statuses.push(g.status);
        if (g.status === 200) open.push(g.socket);
        else g.socket.destroy();
      }
    }
    const ok = statuses.filter((s) => s === 200).length;
    const refused = statuses.filter((s) => s === 503).length;
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(ok).toBe(maxConnections);
    expect(refused).toBe(1500 - maxConnections);
    child.stdin!.write('flush\n');
    const { stats } = (await next((l) => 'stats' in l)) as { stats: Record<string, number> };
    expect(stats.connections_refused).toBe(refused);
    expect(stats.connections_dropped ?? 0).toBe(0);
    const refusalLines = lines.filter((l) => String(l.msg).startsWith('connection refused with 503'));
    expect(refusalLines.length).toBeLessThanOrEqual(3);
    expect(refusalLines.reduce((n, l) => n + ((l.repeated as number) ?? 1), 0)).toBe(refused);
  }, 60_000);
});
