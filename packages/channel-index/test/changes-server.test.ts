import net from 'node:net';
import { createChangesServer, createChannelIndex, createUserStore } from '@tributary/channel-index';
import { createMemoryStore } from '@tributary/store-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { activeTimers, mut, until } from './helpers.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-pw');
const ALICE = basic('alice', 'alice-pw');

describe('_changes HTTP feed', () => {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  const users = createUserStore({ store, iterations: 1000 });
  const server = createChangesServer({
    databases: { db: { index, users } },
    admin: { username: 'admin', password: 'admin-pw' },
  });
  let url = '';
  let seq = 0;
  const write = async (key: string, body: unknown) => {
    await index.applyBatch([mut(0, ++seq, key, body)]);
    await index.flush();
  };
  const get = (path: string, auth = ALICE, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: auth, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  beforeAll(async () => {
    ({ url } = await server.listen());
    const put = await fetch(`${url}/db/_user/alice`, {
      method: 'PUT',
      headers: { authorization: ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'alice-pw', admin_channels: ['public', 'alice'] }),
    });
    expect(put.status).toBe(201);
    await write('p1', { channels: ['public'], title: 'hello' });
    await write('s1', { channels: ['secret'], title: 'classified' });
    await write('a1', { channels: ['alice', 'secret'], title: 'mine' });
  });
  afterAll(async () => {
    await server.close();
    await index.close();
  });

  it('normal feed: CouchDB/Sync Gateway shape, only granted channels', async () => {
    const res = await get('/db/_changes');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(['p1', 'a1']);
    expect(body.results[0]).toEqual({ seq: '0:1', id: 'p1', changes: [{ rev: expect.any(String) }] });
    expect(typeof body.last_seq).toBe('string');
    expect(JSON.stringify(body)).not.toContain('s1');
    // asking for an ungranted channel filters it out, never leaks it
    const filtered = await (
      await get('/db/_changes?filter=sync_gateway/bychannel&channels=secret,public&include_docs=true')
    ).json();
    expect(filtered.results.map((r: { id: string }) => r.id)).toEqual(['p1']);
    expect(JSON.stringify(filtered)).not.toContain('classified');
    expect(filtered.results[0].doc).toEqual({
      _id: 'p1',
      _rev: expect.any(String),
      channels: ['public'],
      title: 'hello',
    });
    // blank names in the list (a trailing comma, spaces) are skipped, not refused
    const blanks = await (
      await get('/db/_changes?filter=sync_gateway/bychannel&channels=public,%20,alice,')
    ).json();
    expect(blanks.results.map((r: { id: string }) => r.id)).toEqual(['p1', 'a1']);
    // admin sees everything; POST with a JSON body works too
    const all = await (
      await get('/db/_changes', ADMIN, { method: 'POST', body: JSON.stringify({ limit: 2 }) })
    ).json();
    expect(all.results.map((r: { id: string }) => r.id)).toEqual(['p1', 's1']);
    const rest = await (await get(`/db/_changes?since=${all.last_seq}`, ADMIN)).json();
    expect(rest.results.map((r: { id: string }) => r.id)).toEqual(['a1']);
  });

  it('caps a longpoll timeout at maxTimeoutMs', async () => {
    // (uncapped, this longpoll would wait ten minutes: the test's own timeout would fail it)
    const capped = createChangesServer({ databases: { db: { index, users } }, maxTimeoutMs: 50 });
    const at = (await capped.listen()).url;
    try {
      const res = await fetch(`${at}/db/_changes?feed=longpoll&since=now&timeout=600000`, {
        headers: { authorization: ALICE },
      });
      expect(res.status).toBe(200);
      expect((await res.json()).results).toEqual([]);
    } finally {
      await capped.close();
    }
  });

  it('401 without or with wrong credentials, 403 for non-admins on the admin API', async () => {
    const none = await fetch(`${url}/db/_changes`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await none.json()).error).toBe('Unauthorized');
    expect((await get('/db/_changes', basic('alice', 'wrong'))).status).toBe(401);
    expect((await get('/db/_changes', basic('nobody', 'x'))).status).toBe(401);
    expect((await get('/db/_user/alice')).status).toBe(403);
    const u = await (await get('/db/_user/alice', ADMIN)).json();
    expect(u).toEqual({
      name: 'alice',
      admin_channels: ['alice', 'public'],
      all_channels: ['alice', 'public'],
    });
    expect((await get('/nope/_changes')).status).toBe(404);
  });

  it('400 with a JSON error naming the bad parameter', async () => {
    for (const [q, param] of [
      ['feed=sideways', 'feed'],
      ['since=%21%21', 'since'],
      ['limit=-1', 'limit'],
      ['limit=abc', 'limit'],
      ['heartbeat=x', 'heartbeat'],
      ['timeout=1.5', 'timeout'],
      ['filter=by_magic', 'filter'],
      ['filter=sync_gateway/bychannel', 'channels'],
      ['include_docs=maybe', 'include_docs'],
      ['active_only=2', 'active_only'],
      ['style=fancy', 'style'],
      ['limit=0', 'limit'],
      ['limit=1e3', 'limit'],
      ['limit=99999999999999999999', 'limit'],
      [`channels=${'x'.repeat(300)}`, 'channels'],
    ]) {
      const res = await get(`/db/_changes?${q}`);
      expect(res.status, q).toBe(400);
      const body = await res.json();
      expect(body.error).toBe('Bad Request');
      expect(body.parameter, q).toBe(param);
      expect(body.reason).toContain(param);
    }
    // the same checks on a POSTed JSON body, where a value may be of any JSON type
    for (const [json, param] of [
      [{ feed: ['longpoll'] }, 'feed'],
      [{ since: { vb: 1 } }, 'since'],
      [{ channels: ['public', 7] }, 'channels'],
      // (an array of one numeric string reads as that number once made a string: still refused)
      [{ limit: ['5'] }, 'limit'],
    ] as const) {
      const res = await get('/db/_changes', ALICE, { method: 'POST', body: JSON.stringify(json) });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect((await res.json()).parameter).toBe(param);
    }
    // a body that is not JSON is the client's error too
    const garbled = await get('/db/_changes', ALICE, { method: 'POST', body: '{"feed":' });
    expect(garbled.status).toBe(400);
    // another scheme than Basic is no credentials at all
    expect((await get('/db/_changes', 'Bearer abc')).status).toBe(401);
  });

  it('longpoll is woken by a write', async () => {
    const { last_seq } = await (await get('/db/_changes')).json();
    const pending = get(`/db/_changes?feed=longpoll&since=${last_seq}&timeout=20000`);
    await until(() => index.stats().waiters === 1, 5000, 'longpoll waiter');
    const t0 = Date.now();
    await write('p2', { channels: ['public'] });
    const body = await (await pending).json();
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(['p2']);
    expect(Date.now() - t0).toBeLessThan(5000);
    // a write to a channel alice cannot see does not answer her longpoll
    const again = get(`/db/_changes?feed=longpoll&since=${body.last_seq}&timeout=300`);
    await until(() => index.stats().waiters === 1, 5000, 'second waiter');
    await write('s2', { channels: ['secret'] });
    const empty = await (await again).json();
    expect(empty.results).toEqual([]);
  });

  it('a client that disconnects releases its waiter at once', async () => {
    const ac = new AbortController();
    const { last_seq } = await (await get('/db/_changes')).json();
    const p = get(`/db/_changes?feed=longpoll&since=${last_seq}&timeout=60000`, ALICE, {
      signal: ac.signal,
    }).catch((e) => e);
    await until(() => index.stats().waiters === 1, 5000, 'waiter');
    ac.abort();
    await p;
    await until(
      () => index.stats().waiters === 0 && server.stats().activeFeeds === 0,
      2000,
      'waiter released',
    );
  });

  it('continuous feed: one JSON object a line, heartbeats as blank lines, final last_seq line', async () => {
    const { last_seq } = await (await get('/db/_changes')).json();
    const timersBefore = activeTimers();
    const res = await get(`/db/_changes?feed=continuous&since=${last_seq}&heartbeat=30&limit=2`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    // (a feed left open on failure would keep the server's close, and the suite, waiting)
    const failIn = setTimeout(() => reader.cancel(), 10_000);
    try {
      // wait for at least two heartbeats before any change
      while (!/\n\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the feed ended before two heartbeats: ${JSON.stringify(text)}`);
        text += dec.decode(value);
      }
      await write('p3', { channels: ['alice'] });
      await write('s3', { channels: ['secret'] });
      await write('p4', { channels: ['public'] });
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
    } finally {
      clearTimeout(failIn);
    }
    // the feed's heartbeat timer ended with it
    await until(() => activeTimers() <= timersBefore);
    const lines = text.split('\n');
    const objs = lines.filter((l) => l.trim()).map((l) => JSON.parse(l));
    expect(objs.slice(0, 2).map((o) => o.id)).toEqual(['p3', 'p4']);
    expect(objs[2]).toEqual({ last_seq: expect.any(String) });
    expect(lines.filter((l) => l === '').length).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain('s3');
  });

  it('continuous feed without a heartbeat ends at its timeout with the last_seq line', async () => {
    const { last_seq } = await (await get('/db/_changes')).json();
    const began = performance.now();
    // (aborted after 10 s: a feed that never ends fails here, not by keeping the server open)
    const res = await get(`/db/_changes?feed=continuous&since=${last_seq}&timeout=150`, ALICE, {
      signal: AbortSignal.timeout(10_000),
    });
    const lines = (await res.text()).split('\n').filter((l) => l.trim());
    expect(performance.now() - began).toBeGreaterThanOrEqual(149);
    expect(lines.map((l) => JSON.parse(l))).toEqual([{ last_seq }]);
  });

  it('websocket feed: options in the first message, batches as JSON arrays', async () => {
    const { last_seq } = await (await get('/db/_changes')).json();
    const ws = new WebSocket(`${url.replace('http', 'ws')}/db/_changes?feed=websocket`, {
      headers: { authorization: ALICE },
    });
    const msgs: unknown[] = [];
    ws.on('message', (d) => msgs.push(JSON.parse(String(d))));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.send(JSON.stringify({ since: last_seq, include_docs: true, limit: 2 }));
    await until(() => index.stats().waiters === 1, 5000, 'websocket waiter');
    await write('w1', { channels: ['public'], n: 1 });
    await write('w2', { channels: ['secret'] });
    await write('w3', { channels: ['alice'], n: 3 });
    await new Promise((r) => ws.once('close', r));
    const entries = msgs.filter(Array.isArray).flat() as { id: string; doc: { n: number } }[];
    expect(entries.map((e) => e.id)).toEqual(['w1', 'w3']);
    expect(entries[1]!.doc.n).toBe(3);
    expect(msgs.at(-1)).toEqual({ last_seq: expect.any(String) });
    // unauthenticated upgrade is refused
    const bad = new WebSocket(`${url.replace('http', 'ws')}/db/_changes?feed=websocket`);
    const status = await new Promise<number>((r) =>
      bad.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0)).once('error', () => r(-1)),
    );
    expect(status).toBe(401);
  });

  it('admin API creates, updates and deletes users and grants', async () => {
    const put = (name: string, body: unknown, auth = ADMIN) =>
      fetch(`${url}/db/_user/${name}`, {
        method: 'PUT',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put('bob', { admin_channels: ['secret'] })).status).toBe(400); // no password
    expect((await put('bob', { password: 'b', admin_channels: ['se\u0000cret'] })).status).toBe(400);
    expect((await put('bob', { password: 'b', admin_channels: ['secret'] })).status).toBe(201);
    const bob = basic('bob', 'b');
    const seen = await (await get('/db/_changes', bob)).json();
    expect(seen.results.map((r: { id: string }) => r.id)).toEqual(['s1', 'a1', 's2', 's3', 'w2']);
    expect((await put('bob', { admin_channels: [] })).status).toBe(200);
    expect((await (await get('/db/_changes', bob)).json()).results).toEqual([]);
    expect(await (await get('/db/_user/', ADMIN)).json()).toEqual(['alice', 'bob']);
    expect(
      (await fetch(`${url}/db/_user/bob`, { method: 'DELETE', headers: { authorization: ADMIN } })).status,
    ).toBe(200);
    expect((await get('/db/_changes', bob)).status).toBe(401);
  });
});

describe('_changes HTTP feed: an index with another all-docs channel, or none', () => {
  it("an admin's unfiltered feed reads the index's own all-docs channel; with none it must filter", async () => {
    const store = createMemoryStore();
    const named = createChannelIndex({
      store,
      prefix: 'a:',
      maxBatchDelayMs: 0,
      allDocsChannel: 'everything',
    });
    const none = createChannelIndex({ store, prefix: 'b:', maxBatchDelayMs: 0, allDocsChannel: false });
    const users = createUserStore({ store, iterations: 1000 });
    const server = createChangesServer({
      databases: { named: { index: named, users }, none: { index: none, users } },
      admin: { username: 'admin', password: 'admin-pw' },
    });
    try {
      const { url } = await server.listen();
      for (const index of [named, none]) {
        await index.applyBatch([mut(0, 1, 'd1', { channels: ['x'] })]);
        await index.flush();
      }
      const get = (path: string) => fetch(`${url}${path}`, { headers: { authorization: ADMIN } });
      const all = await (await get('/named/_changes')).json();
      expect(all.results.map((r: { id: string }) => r.id)).toEqual(['d1']);
      const refused = await get('/none/_changes');
      expect([refused.status, (await refused.json()).parameter]).toEqual([400, 'filter']);
      const filtered = await (await get('/none/_changes?filter=sync_gateway/bychannel&channels=x')).json();
      expect(filtered.results.map((r: { id: string }) => r.id)).toEqual(['d1']);
    } finally {
      await server.close();
      await named.close();
      await none.close();
    }
  });
});

describe('_changes HTTP feed: too many waiting clients', () => {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  const users = createUserStore({ store, iterations: 1000 });
  const server = createChangesServer({
    databases: { db: { index, users } },
    admin: { username: 'admin', password: 'admin-pw' },
    maxWaitingClients: 2,
  });
  let url = '';
  let seq = 0;
  const write = async (key: string) => {
    await index.applyBatch([mut(0, ++seq, key, { channels: ['public'] })]);
    await index.flush();
  };
  const get = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { ...init, headers: { authorization: ADMIN } });

  beforeAll(async () => {
    ({ url } = await server.listen());
    await write('first');
  });
  afterAll(async () => {
    await server.close();
    await index.close();
  });

  it('rejects a bad cap at creation', () => {
    expect(() => createChangesServer({ databases: { db: { index, users } }, maxWaitingClients: -1 })).toThrow(
      expect.objectContaining({ code: 'TRIB_INVALID_ARGUMENT' }),
    );
  });

  it('refuses the waiting client over the cap (503 / close 1013), counts it, and earlier clients keep working', async () => {
    const { last_seq } = await (await get('/db/_changes')).json();
    // Two waiting clients fill the cap: a longpoll and a continuous feed.
    const longpoll = get(`/db/_changes?feed=longpoll&since=${last_seq}&timeout=30000`);
    const contAc = new AbortController();
    const cont = await get(`/db/_changes?feed=continuous&since=${last_seq}&timeout=30000`, {
      signal: contAc.signal,
    });
    expect(cont.status).toBe(200);
    await until(() => index.stats().waiters === 2, 5000, 'two waiters');
    expect(server.stats().waitingClients).toBe(2);

    // A third longpoll and a continuous feed: 503 with a typed JSON error and Retry-After.
    for (const feed of ['longpoll', 'continuous']) {
      const res = await get(`/db/_changes?feed=${feed}&since=${last_seq}&timeout=30000`);
      expect(res.status, feed).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const body = await res.json();
      expect(body).toEqual({
        error: 'Service Unavailable',
        reason: expect.stringContaining('limit 2'),
        code: 'TRIB_CHANGES_TOO_MANY_CLIENTS',
      });
    }
    // A websocket over the cap: the error as a message, then close code 1013 (try again later).
    const ws = new WebSocket(`${url.replace('http', 'ws')}/db/_changes?feed=websocket`, {
      headers: { authorization: ADMIN },
    });
    const msgs: { code?: string }[] = [];
    ws.on('message', (d) => msgs.push(JSON.parse(String(d))));
    const closeCode = await new Promise<number>((r, j) => ws.once('close', r).once('error', j));
    expect(closeCode).toBe(1013);
    expect(msgs).toEqual([expect.objectContaining({ code: 'TRIB_CHANGES_TOO_MANY_CLIENTS' })]);
    expect(server.stats().counters.refused_too_many_clients).toBe(3);
    expect(server.stats().counters['http_errors{status="503"}']).toBe(2);
    // Refusals hold nothing: still exactly the two earlier waiters.
    expect(server.stats().waitingClients).toBe(2);
    expect(index.stats().waiters).toBe(2);

    // A normal feed is not a waiting client: still served.
    expect((await get('/db/_changes')).status).toBe(200);

    // The earlier clients are woken by a write as usual.
    await write('second');
    const lp = await (await longpoll).json();
    expect(lp.results.map((r: { id: string }) => r.id)).toEqual(['second']);
    const reader = cont.body!.getReader();
    let text = '';
    while (!text.includes('"second"')) text += new TextDecoder().decode((await reader.read()).value);
    contAc.abort();
    await until(() => server.stats().waitingClients === 0, 5000, 'slots released');

    // Room again: a new longpoll is admitted and answered.
    const again = get(`/db/_changes?feed=longpoll&since=${lp.last_seq}&timeout=30000`);
    await until(() => index.stats().waiters === 1, 5000, 'new waiter');
    await write('third');
    const body = await (await again).json();
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(['third']);
  });
});

const rawSockets = new Set<net.Socket>();
afterAll(() => {
  for (const s of rawSockets) s.destroy();
});

/** A raw HTTP/1.1 connection: what it received, and when the server closed it. */
async function rawHttp(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  rawSockets.add(socket);
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  let received = '';
  let wake: (() => void) | undefined;
  socket.on('data', (d) => {
    received += d.toString('latin1');
    wake?.();
  });
  socket.on('error', () => {}); // 'close' follows; the tests look at what arrived
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    closed,
    get received() {
      return received;
    },
    send(path: string, auth = ADMIN) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`);
    },
    /** Waits until the received text matches (or the socket closes first: then throws). */
    async until(re: RegExp): Promise<string> {
      for (;;) {
        if (re.test(received)) return received;
        if (socket.destroyed) throw new Error(`closed without ${re}; got ${JSON.stringify(received)}`);
        await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
      }
    },
  };
}

describe('_changes HTTP feed: connection cap and idle timeouts', () => {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  const users = createUserStore({ store, iterations: 1000 });
  let seq = 0;
  const write = async (key: string) => {
    await index.applyBatch([mut(0, ++seq, key, { channels: ['public'] })]);
    await index.flush();
  };
  const servers: ReturnType<typeof createChangesServer>[] = [];
  const start = async (o: Partial<Parameters<typeof createChangesServer>[0]>) => {
    const server = createChangesServer({
      databases: { db: { index, users } },
      admin: { username: 'admin', password: 'admin-pw' },
      ...o,
    });
    servers.push(server);
    const { port, url } = await server.listen();
    return { server, port, url };
  };
  beforeAll(async () => {
    await write('first');
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await index.close();
  });

  it('a websocket that never sends its feed options is closed after requestTimeoutMs, its slot freed', async () => {
    const { server, port } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/db/_changes?feed=websocket`, {
      headers: { authorization: ADMIN },
    });
    const msgs: { parameter?: string; reason?: string }[] = [];
    ws.on('message', (d) => msgs.push(JSON.parse(String(d))));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    expect(server.stats().waitingClients).toBe(1);
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    expect(code).toBe(1008);
    expect(msgs).toEqual([
      expect.objectContaining({ parameter: 'body', reason: expect.stringContaining('300 ms') }),
    ]);
    await until(() => server.stats().waitingClients === 0, 5000, 'the slot released');
    expect(server.stats().counters.feed_options_timeouts).toBe(1);
  });

  it('rejects bad limits at creation', () => {
    for (const bad of [
      { maxConnections: 0 },
      { keepAliveTimeoutMs: -1 },
      { headersTimeoutMs: 1.5 },
      { headersTimeoutMs: 5000, requestTimeoutMs: 1000 },
    ])
      expect(
        () => createChangesServer({ databases: { db: { index, users } }, ...bad }),
        JSON.stringify(bad),
      ).toThrow(expect.objectContaining({ code: 'TRIB_INVALID_ARGUMENT' }));
  });

  it('past maxConnections a connection gets 503 TRIB_CHANGES_TOO_MANY_CONNECTIONS and is closed; admitted ones, a waiting feed among them, keep working', async () => {
    const MAX = 3;
    const { server, port } = await start({ maxConnections: MAX });
    const held = [await rawHttp(port), await rawHttp(port), await rawHttp(port)];
    await until(() => server.stats().connections === MAX, 5000, 'three admitted');
    held[0]!.send('/db/_changes?feed=longpoll&since=now&timeout=30000');
    await until(() => index.stats().waiters === 1, 5000, 'the longpoll waiting');
    held[1]!.send('/db/_changes?limit=1');
    await held[1]!.until(/"last_seq"/);

    // Over the cap: an HTTP request, and a websocket upgrade.
    const over = await rawHttp(port);
    over.send('/db/_changes');
    await over.closed;
    expect(over.received).toMatch(/^HTTP\/1\.1 503 /);
    expect(over.received).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(over.received).toMatch(/\r\nconnection: close\r\n/i);
    expect(over.received).toContain('"code":"TRIB_CHANGES_TOO_MANY_CONNECTIONS"');
    expect(over.received).not.toContain('"results"'); // refused before the handler ran
    const ws = new WebSocket(`ws://127.0.0.1:${port}/db/_changes?feed=websocket`, {
      headers: { authorization: ADMIN },
    });
    const wsStatus = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('websocket admitted past the cap')));
      ws.once('error', reject);
    });
    expect(wsStatus).toBe(503);
    ws.terminate();
    const st = server.stats();
    expect(st.counters.refused_too_many_connections).toBe(2);
    expect(st.connections).toBe(MAX);
    expect(st.waitingClients).toBe(1);

    // The admitted connections are untouched: the longpoll is woken, the keep-alive one reused.
    await write('woken');
    expect(await held[0]!.until(/"woken"/)).toMatch(/^HTTP\/1\.1 200 /);
    held[2]!.send('/db/_changes?limit=1');
    expect(await held[2]!.until(/"last_seq"/)).toMatch(/^HTTP\/1\.1 200 /);

    // One closes: room for a new connection.
    held[1]!.socket.destroy();
    await until(() => server.stats().connections === MAX - 1, 5000, 'a slot freed');
    const next = await rawHttp(port);
    next.send('/db/_changes?limit=1');
    expect(await next.until(/"last_seq"/)).toMatch(/^HTTP\/1\.1 200 /);
    for (const c of [...held, next]) c.socket.destroy();
  });

  it(`a flood past the refusal slots is dropped unanswered (counted), and the server still serves`, {
    timeout: 30_000,
  }, async () => {
    const { server, port } = await start({ maxConnections: 1 });
    const admitted = await rawHttp(port);
    await until(() => server.stats().connections === 1, 5000, 'one admitted');
    // 256 connections wait for their 503 (they send nothing); the next one is dropped by Node.
    const pending = [];
    for (let i = 0; i < 256; i++) pending.push(await rawHttp(port));
    await until(() => server.stats().counters.refused_too_many_connections === 256, 5000, '256 refusals');
    const dropped = await rawHttp(port);
    await dropped.closed;
    expect(dropped.received).toBe('');
    expect(server.stats().counters.refused_too_many_connections).toBe(257);
    // A pending one still gets its clean answer.
    pending[0]!.send('/db/_changes');
    await pending[0]!.closed;
    expect(pending[0]!.received).toMatch(/^HTTP\/1\.1 503 /);
    for (const c of pending) c.socket.destroy();
    admitted.send('/db/_changes?limit=1');
    expect(await admitted.until(/"last_seq"/)).toMatch(/^HTTP\/1\.1 200 /);
    admitted.socket.destroy();
  });

  it('idle sockets are closed: silent before the first request (408), idle keep-alive after a response; a longer longpoll is not cut', async () => {
    const { server, port } = await start({
      headersTimeoutMs: 150,
      requestTimeoutMs: 200,
      keepAliveTimeoutMs: 100,
    });
    const silent = await rawHttp(port);
    await silent.closed;
    expect(silent.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(server.stats().counters.request_timeouts).toBe(1);

    const idle = await rawHttp(port);
    idle.send('/db/_changes?limit=1');
    await idle.until(/"last_seq"/);
    await idle.closed; // keep-alive idle past keepAliveTimeoutMs (+ Node's 1 s)
    expect(server.stats().counters.idle_timeouts).toBe(1);

    // A longpoll lasting well past every one of those timeouts runs to its own end.
    const lp = await rawHttp(port);
    const began = Date.now();
    lp.send('/db/_changes?feed=longpoll&since=now&timeout=1500');
    const text = await lp.until(/"last_seq"/);
    expect(Date.now() - began).toBeGreaterThanOrEqual(1400);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).not.toContain('"id"'); // timed out empty, as asked
    expect(server.stats().counters.request_timeouts).toBe(1);
    lp.socket.destroy();
  });
});

describe('_changes HTTP feed: a slow reader stalls its own feed', () => {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  const users = createUserStore({ store, iterations: 1000 });
  const DOCS = 4000;
  const PAGE = 50;
  let pagesRead = 0;
  // The real index, with its page reads counted: how far the feed got ahead of its reader.
  const counted = new Proxy(index, {
    get(target, prop, receiver) {
      if (prop === 'changes')
        return (...args: Parameters<typeof index.changes>) => {
          pagesRead++;
          return target.changes(...args);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const server = createChangesServer({
    databases: { db: { index: counted, users } },
    admin: { username: 'admin', password: 'admin-pw' },
    pageSize: PAGE,
  });
  let port = 0;
  beforeAll(async () => {
    const body = 'x'.repeat(4096);
    for (let i = 0; i < DOCS; i += 500)
      await index.applyBatch(
        Array.from({ length: 500 }, (_, k) =>
          mut(0, i + k + 1, `doc-${i + k}`, { channels: ['public'], body }),
        ),
      );
    await index.flush();
    ({ port } = await server.listen());
  });
  afterAll(async () => {
    await server.close();
    await index.close();
  });

  it('a normal feed with include_docs to a client that does not read stops paging until it reads, then delivers everything', {
    timeout: 60_000,
  }, async () => {
    const c = await rawHttp(port);
    c.socket.pause(); // read nothing: the kernel buffers fill, then the server's
    pagesRead = 0;
    c.send('/db/_changes?include_docs=true');
    await until(() => (server.stats().counters.feed_stalls ?? 0) >= 1, 30_000, 'the feed to stall');
    const atStall = pagesRead;
    // ~20 MB of docs in 80 pages; the stall came long before the end (kernel + socket buffers).
    expect(atStall).toBeLessThan(DOCS / PAGE / 2);
    // While it is stalled the server goes on serving others, and reads no further page for it.
    const other = await rawHttp(port);
    for (let i = 1; i <= 5; i++) {
      other.send('/db/');
      await other.until(new RegExp(`(update_seq[\\s\\S]*){${i}}`));
    }
    expect(pagesRead).toBe(atStall);
    other.socket.destroy();
    c.socket.resume();
    const text = await c.until(/"last_seq":"[^"]*"\}\s*(0\r\n\r\n)?$/);
    expect(text.match(/"id":"doc-\d+"/g)?.length).toBe(DOCS);
    expect(pagesRead).toBeGreaterThan(DOCS / PAGE); // then it read on to the end
    c.socket.destroy();
  });
});
