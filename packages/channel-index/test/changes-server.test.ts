import { createChangesServer, createChannelIndex, createUserStore } from '@tributary/channel-index';
import { createMemoryStore } from '@tributary/store-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { mut, until } from './helpers.js';

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
    // admin sees everything; POST with a JSON body works too
    const all = await (
      await get('/db/_changes', ADMIN, { method: 'POST', body: JSON.stringify({ limit: 2 }) })
    ).json();
    expect(all.results.map((r: { id: string }) => r.id)).toEqual(['p1', 's1']);
    const rest = await (await get(`/db/_changes?since=${all.last_seq}`, ADMIN)).json();
    expect(rest.results.map((r: { id: string }) => r.id)).toEqual(['a1']);
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
    ]) {
      const res = await get(`/db/_changes?${q}`);
      expect(res.status, q).toBe(400);
      const body = await res.json();
      expect(body.error).toBe('Bad Request');
      expect(body.parameter, q).toBe(param);
      expect(body.reason).toContain(param);
    }
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
    const res = await get(`/db/_changes?feed=continuous&since=${last_seq}&heartbeat=30&limit=2`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    // wait for at least two heartbeats before any change
    while (!/\n\n/.test(text)) text += dec.decode((await reader.read()).value);
    await write('p3', { channels: ['alice'] });
    await write('s3', { channels: ['secret'] });
    await write('p4', { channels: ['public'] });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    const lines = text.split('\n');
    const objs = lines.filter((l) => l.trim()).map((l) => JSON.parse(l));
    expect(objs.slice(0, 2).map((o) => o.id)).toEqual(['p3', 'p4']);
    expect(objs[2]).toEqual({ last_seq: expect.any(String) });
    expect(lines.filter((l) => l === '').length).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain('s3');
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
