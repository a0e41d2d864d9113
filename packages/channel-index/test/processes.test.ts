import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createChangesServer, createChannelIndex, createUserStore } from '@tributary/channel-index';
import type { Store } from '@tributary/core';
import { createLmdbStore } from '@tributary/store-lmdb';
import { createMemoryStore } from '@tributary/store-memory';
import { createPostgresStore } from '@tributary/store-postgres';
import { createRedisStore } from '@tributary/store-redis';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpIndex, until, workload } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures', 'writer.ts');
const children: ChildProcessWithoutNullStreams[] = [];
const dirs: string[] = [];
const redisNs = `ci-proc:${process.pid}:${Date.now()}:`;
const pgTable = `ci_proc_${process.pid}_${Date.now()}`;
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  const { Redis } = await import('ioredis');
  const r = new Redis('redis://127.0.0.1:6379');
  const keys = await r.keys(`${redisNs}*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: 'postgres://root@127.0.0.1:5432/test' });
  await c.connect();
  await c.query(`DROP TABLE IF EXISTS ${pgTable}`);
  await c.end();
});

function startWriter(args: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@tributary/source', fixture, ...args],
    {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, NODE_OPTIONS: '' },
    },
  );
  children.push(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  const waitLine = (pred: (l: string) => boolean, what: string) =>
    until(() => lines.some(pred) || child.exitCode !== null, 30_000, what).then(() => {
      if (!lines.some(pred)) throw new Error(`writer exited (${child.exitCode}) before ${what}: ${stderr}`);
    });
  return { child, lines, waitLine };
}

describe('separate processes', () => {
  it('restart after SIGKILL mid-stream: index equals a rebuild from scratch, checkpoints consistent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ci-kill-'));
    dirs.push(dir);
    const path = join(dir, 'db');
    const n = 6000;
    const w = startWriter(['kill', path, String(n)]);
    await w.waitLine((l) => l.startsWith('progress 1000'), 'progress');
    w.child.kill('SIGKILL');
    await new Promise((r) => w.child.once('exit', r));
    expect(w.lines).not.toContain('done');

    const store = createLmdbStore({ path });
    const index = createChannelIndex({ store, maxBatch: 40, maxBatchDelayMs: 0, blockSize: 16 });
    const muts = workload(n, 16, 30);
    const resumeFrom = new Map<number, number>();
    for (let vb = 0; vb < 16; vb++) {
      const meta = await index.getMetaData(vb);
      resumeFrom.set(vb, meta.lastSeq);
      // a checkpoint is never ahead of the entries written with it
      if (meta.value)
        expect(Number(Buffer.from(meta.value).toString().split('@')[1])).toBeLessThanOrEqual(meta.lastSeq);
    }
    const total = [...resumeFrom.values()].reduce((x, y) => x + y, 0);
    expect(total).toBeGreaterThan(1000);
    expect(total).toBeLessThan(n);
    // resume as the datasource would: from each vbucket's checkpoint
    await index.applyBatch(muts.filter((m) => m.seqno > resumeFrom.get(m.vbucket)!));
    await index.flush();
    expect(index.stats().counters.duplicates ?? 0).toBe(0);

    const ref = createChannelIndex({
      store: createMemoryStore(),
      maxBatch: 1000,
      maxBatchDelayMs: 0,
      blockSize: 16,
    });
    await ref.applyBatch(muts);
    await ref.flush();
    expect(await dumpIndex(store)).toEqual(await dumpIndex(ref.store));
    await index.close();
    await ref.close();
    await store.close();
  }, 60_000);

  const shared: [string, (ns: string) => Store, string][] = [
    ['redis', (ns) => createRedisStore({ url: 'redis://127.0.0.1:6379', prefix: ns }), redisNs],
    [
      'postgres',
      (ns) => createPostgresStore({ connectionString: 'postgres://root@127.0.0.1:5432/test', table: ns }),
      pgTable,
    ],
  ];
  it.each(shared)(
    'one process writes, another serves _changes (shared %s store)',
    async (kind, open, ns) => {
      const w = startWriter(['serve', kind, ns]);
      await w.waitLine((l) => l === 'ready', 'writer ready');
      const store = open(ns);
      const index = createChannelIndex({
        store,
        readOnly: true,
        pollIntervalMs: 20,
        fallbackPollIntervalMs: 250,
      });
      const users = createUserStore({ store, iterations: 1000 });
      await users.put('reader', { password: 'pw', channels: ['feed'] });
      const server = createChangesServer({ databases: { db: { index, users } } });
      const { url } = await server.listen();
      const auth = { authorization: `Basic ${Buffer.from('reader:pw').toString('base64')}` };
      let seq = 0;
      const write = async (key: string, body: unknown) => {
        seq++;
        w.child.stdin.write(`${JSON.stringify({ vb: 3, seq, key, body })}\n`);
        await w.waitLine((l) => l === `ok ${seq}`, `write ${seq}`);
      };
      try {
        await write('first', { channels: ['feed'] });
        const normal = await (await fetch(`${url}/db/_changes`, { headers: auth })).json();
        expect(normal.results.map((r: { id: string }) => r.id)).toEqual(['first']);
        const longpoll = fetch(`${url}/db/_changes?feed=longpoll&timeout=20000&since=${normal.last_seq}`, {
          headers: auth,
        }).then((r) => r.json());
        await until(() => index.stats().waiters === 1, 5000, 'longpoll waiter');
        await write('hidden', { channels: ['other'] });
        await write('second', { channels: ['feed'] });
        const woke = await longpoll;
        expect(woke.results.map((r: { id: string }) => r.id)).toEqual(['second']);
      } finally {
        w.child.stdin.end();
        await server.close();
        await index.close();
        await store.close();
      }
    },
    60_000,
  );
});
