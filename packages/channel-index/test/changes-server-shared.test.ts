// Longpolls woken by one write share the encoded answer only when their answers are equal: never
// across users whose grants differ, and passwords are checked on every request.
import { createChangesServer, createChannelIndex, createUserStore } from '@tributary/channel-index';
import { createMemoryStore } from '@tributary/store-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mut, until } from './helpers.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-pw');

describe('_changes longpoll: shared answers', () => {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  const users = createUserStore({ store, iterations: 1000 });
  const server = createChangesServer({
    databases: { db: { index, users } },
    admin: { username: 'admin', password: 'admin-pw' },
  });
  let url = '';
  let seq = 0;
  const get = (path: string, auth: string) => fetch(`${url}${path}`, { headers: { authorization: auth } });
  const ids = async (res: Promise<Response>) => {
    const r = await res;
    expect(r.status).toBe(200);
    return ((await r.json()) as { results: { id: string }[] }).results.map((e) => e.id);
  };

  beforeAll(async () => {
    ({ url } = await server.listen());
    await users.put('red', { password: 'red-pw', channels: ['red'] });
    await users.put('red2', { password: 'red2-pw', channels: ['red'] });
    await users.put('blue', { password: 'blue-pw', channels: ['blue'] });
    await users.put('both', { password: 'both-pw', channels: ['red', 'blue'] });
    await index.applyBatch([mut(0, ++seq, 'start', { channels: ['red', 'blue'] })]);
    await index.flush();
  });
  afterAll(async () => {
    await server.close();
    await index.close();
  });

  it('readers with different grants waiting with the same since each get only their channels', async () => {
    const { last_seq } = await (await get('/db/_changes', ADMIN)).json();
    const lp = (auth: string) => ids(get(`/db/_changes?feed=longpoll&since=${last_seq}&timeout=20000`, auth));
    const who = [
      ...Array.from({ length: 5 }, () => ['red', lp(basic('red', 'red-pw'))] as const),
      ...Array.from({ length: 5 }, () => ['red', lp(basic('red2', 'red2-pw'))] as const),
      ...Array.from({ length: 5 }, () => ['blue', lp(basic('blue', 'blue-pw'))] as const),
      ...Array.from({ length: 5 }, () => ['both', lp(basic('both', 'both-pw'))] as const),
    ];
    await until(() => server.stats().longpollsWaiting === who.length, 5000, 'every longpoll waiting');
    // Identical questions share one wait: red and red2 ask the same (both see only red), so three
    // groups, three waiters in the index, for twenty clients.
    expect(index.stats().waiters).toBe(3);
    const before = server.stats().counters.shared_tails ?? 0;
    // One batch, one write wakes them all.
    await index.applyBatch([
      mut(0, ++seq, 'r1', { channels: ['red'], secret: 'red' }),
      mut(1, ++seq, 'b1', { channels: ['blue'], secret: 'blue' }),
    ]);
    await index.flush();
    for (const [grant, answer] of who) {
      expect(await answer, grant).toEqual(
        grant === 'red' ? ['r1'] : grant === 'blue' ? ['b1'] : ['r1', 'b1'],
      );
    }
    // Equal answers (same channels, whoever asked) were encoded once per channel set.
    expect((server.stats().counters.shared_tails ?? 0) - before).toBe(who.length - 3);
    expect(server.stats().longpollsWaiting).toBe(0);
    expect(index.stats().waiters).toBe(0);
  });

  it('a shared wait keeps each member its own timeout; the group stops when its last member leaves', async () => {
    const { last_seq } = await (await get('/db/_changes', ADMIN)).json();
    const path = (timeout: number) => `/db/_changes?feed=longpoll&since=${last_seq}&timeout=${timeout}`;
    const red = basic('red', 'red-pw');
    const short = get(path(150), red);
    const long = ids(get(path(20_000), red));
    const gone = new AbortController();
    // (headers come at once: the body is what a disconnect cuts)
    const leaver = fetch(`${url}${path(20_000)}`, {
      headers: { authorization: red },
      signal: gone.signal,
    }).then((r) => r.text());
    await until(() => server.stats().longpollsWaiting === 3, 5000, 'three members waiting');
    expect(index.stats().waiters).toBe(1);
    // the short one answers empty at its own deadline, from where the group's read got to
    const empty = (await (await short).json()) as { results: unknown[]; last_seq: string };
    expect(empty).toEqual({ results: [], last_seq });
    // one member disconnects: the other still waits, on the same single index waiter
    gone.abort();
    await expect(leaver).rejects.toThrow();
    await until(() => server.stats().longpollsWaiting === 1, 5000, 'one member left');
    expect(index.stats().waiters).toBe(1);
    await index.applyBatch([mut(2, ++seq, 'r2', { channels: ['red'] })]);
    await index.flush();
    expect(await long).toEqual(['r2']);
    // and a group whose every member leaves releases its index waiter
    const { last_seq: now } = await (await get('/db/_changes', ADMIN)).json();
    const all = Array.from({ length: 3 }, () => new AbortController());
    const polls = all.map((ac) =>
      fetch(`${url}/db/_changes?feed=longpoll&since=${now}&timeout=20000`, {
        headers: { authorization: red },
        signal: ac.signal,
      })
        .then((r) => r.text())
        .catch(() => 'aborted'),
    );
    await until(() => server.stats().longpollsWaiting === 3, 5000, 'three more waiting');
    expect(index.stats().waiters).toBe(1);
    for (const ac of all) ac.abort();
    expect(await Promise.all(polls)).toEqual(['aborted', 'aborted', 'aborted']);
    await until(() => index.stats().waiters === 0 && server.stats().longpollsWaiting === 0, 5000, 'released');
  });

  it('a changed password is refused at once; the new one is accepted', async () => {
    const old = basic('red', 'red-pw');
    expect((await get('/db/_changes', old)).status).toBe(200);
    const put = await fetch(`${url}/db/_user/red`, {
      method: 'PUT',
      headers: { authorization: ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'red-pw-2' }),
    });
    expect(put.status).toBe(200);
    expect((await get('/db/_changes', old)).status).toBe(401);
    expect((await get('/db/_changes', basic('red', 'red-pw-2'))).status).toBe(200);
    // the built-in admin: only its own password, however often asked
    expect((await get('/db/_changes', basic('admin', 'admin-pw '))).status).toBe(401);
    expect((await get('/db/_changes', basic('admin', ''))).status).toBe(401);
    expect((await get('/db/_changes', ADMIN)).status).toBe(200);
  });
});
