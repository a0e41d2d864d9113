// Issue #22: each of these requests killed the whole cluster process (users looked up on a plain
// object, `new URL` throwing on "//", URIError from a bad % escape). Every one gets a 4xx now, and
// the REST port keeps serving. Over real HTTP, raw sockets (so the request target is sent as is).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';

let cluster: Cluster;
let port = 0;
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const ADMIN = basic('Administrator', 'password');

beforeAll(async () => {
  cluster = await startCluster({ vbuckets: 16, buckets: ['default'], users: { Administrator: 'password' } });
  port = cluster.nodes[0].mgmtPort;
});
afterAll(async () => {
  await cluster?.close();
});

/** Sends `target` as the request target; resolves with the status code (or how it ended). */
function request(
  target: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<number | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (v: number | string) => {
      s.destroy();
      resolve(v);
    };
    s.on('connect', () => {
      const h = Object.entries({ Host: 'x', Connection: 'close', ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      s.write(`${method} ${target} HTTP/1.1\r\n${h}\r\n`);
    });
    s.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) done(Number(m[1]));
    });
    s.on('error', (e: NodeJS.ErrnoException) => done(String(e.code)));
    s.on('close', () => done('closed unanswered'));
  });
}

describe('cluster REST under hostile requests (#22)', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'])(
    'a Basic user named %s is just unknown: 401, and the port lives',
    async (user) => {
      expect(await request('/pools', { Authorization: basic(user, 'x') })).toBe(401);
      expect(await request('/pools', { Authorization: basic(user, '') })).toBe(401);
      expect(await request('/pools', { Authorization: ADMIN })).toBe(200);
    },
  );

  it.each(['//', '//x', '//pools', '/\\', '/\\evil/pools', 'http://', '*', 'pools'])(
    'request target %j: 400, and the port lives',
    async (target) => {
      expect(await request(target, { Authorization: ADMIN })).toBe(400);
      expect(await request('/pools', { Authorization: ADMIN })).toBe(200);
    },
  );

  it.each([
    '/pools/default/b/%zz',
    '/pools/default/bs/%',
    '/pools/default/buckets/%E0%A4%A',
    '/pools/default/bucketsStreaming/%ff',
    '/pools/default/b/%',
  ])('a malformed escape in a bucket name, %s: 400, and the port lives', async (target) => {
    expect(await request(target, { Authorization: ADMIN })).toBe(400);
    expect(await request('/pools', { Authorization: ADMIN })).toBe(200);
  });

  it('an unknown bucket (escaped or not) is 404; a well-escaped name is found', async () => {
    expect(await request('/pools/default/b/nope', { Authorization: ADMIN })).toBe(404);
    expect(await request('/pools/default/b/%6E%6F%70%65', { Authorization: ADMIN })).toBe(404);
    expect(await request('/pools/default/b/%64efault', { Authorization: ADMIN })).toBe(200);
    expect(await request('/pools/default/b/default', { Authorization: ADMIN })).toBe(200);
  });

  it('odd credentials and methods are 4xx', async () => {
    for (const auth of [
      'Basic',
      'Basic !!!!',
      `Basic ${Buffer.from('nocolon').toString('base64')}`,
      'Bearer x',
      '',
    ])
      expect(await request('/pools', { Authorization: auth })).toBe(401);
    expect(await request('/pools', { Authorization: ADMIN }, 'POST')).toBe(405);
    expect(await request('/pools', { Authorization: ADMIN }, 'BREW')).toBe(400); // Node's parser refuses it
    expect(await request('/pools/default/b/x/y', { Authorization: ADMIN })).toBe(404);
    expect(await request('/pools', { Authorization: ADMIN })).toBe(200);
  });
});

describe('cluster REST timeouts and connection cap (#22)', () => {
  let small: Cluster;
  let p = 0;
  beforeAll(async () => {
    small = await startCluster({
      vbuckets: 16,
      buckets: ['default'],
      users: { Administrator: 'password' },
      rest: { headersTimeoutMs: 500, maxConnections: 320 },
    });
    p = small.nodes[0].mgmtPort;
  });
  afterAll(async () => {
    await small?.close();
  });

  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${p}${path}`, { headers: { authorization: ADMIN } });
    return { status: res.status, body: await res.text() };
  };

  it('slowloris: 300 connections trickling headers are dropped at the header timeout; clients are served meanwhile', {
    timeout: 30_000,
  }, async () => {
    const sockets: net.Socket[] = [];
    let closed = 0;
    const t0 = Date.now();
    for (let i = 0; i < 300; i++) {
      const s = net.connect(p, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => closed++);
      sockets.push(s);
    }
    const header = `GET /pools HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(5000)}`;
    let pos = 0;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write(header[pos % header.length]!);
      pos++;
    }, 50);
    try {
      expect((await get('/pools')).status).toBe(200);
      while (closed < 300) {
        if (Date.now() - t0 > 15_000) throw new Error(`${closed} of 300 dropped`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
      const stats = await get('/pools');
      expect(stats.status).toBe(200);
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    }
  });

  it('past maxConnections a connection is answered 503 TRIB_HTTP_TOO_MANY_CONNECTIONS; a freed slot is reused', {
    timeout: 30_000,
  }, async () => {
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 320; i++) {
        const s = net.connect(p, '127.0.0.1');
        s.on('error', () => {});
        await new Promise<void>((r) => s.once('connect', () => r()));
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // keep-alive, held open
        held.push(s);
      }
      let over = '';
      const s = net.connect(p, '127.0.0.1');
      s.on('connect', () => s.write('GET /pools HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('data', (d) => {
        over += d.toString();
      });
      await new Promise<void>((r) => s.once('close', () => r()));
      expect(over).toMatch(/^HTTP\/1\.1 503 /);
      expect(over).toContain('"code":"TRIB_HTTP_TOO_MANY_CONNECTIONS"');
      expect(over.toLowerCase()).toContain('retry-after: 1');
    } finally {
      for (const s of held) s.destroy();
    }
    // Once they are gone the port serves again.
    for (;;) {
      const r = await get('/pools');
      if (r.status === 200) break;
      expect(r.status).toBe(503);
    }
  });
});
