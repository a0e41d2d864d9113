// The `_changes` server under connection pressure, fed by the real pipeline (embedded cluster →
// datasource → channel index): past maxConnections every new connection gets a clean 503 and is
// closed, a flood past the refusal slots is dropped, silent sockets time out with 408, and the
// admitted clients, a longpoll among them, keep being served.

import net from 'node:net';
import { type Cluster, startCluster } from '@tributary/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { waitFor } from '../support/pipeline.js';
import { startChangesRig } from './changes-rig.js';

const AUTH = `Basic ${Buffer.from('admin:admin-pw').toString('base64')}`;

/** A raw HTTP/1.1 connection that stays open: what it received, and when the server closed it. */
async function raw(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  socket.on('error', () => {});
  let received = '';
  let wake: (() => void) | undefined;
  socket.on('data', (d) => {
    received += d.toString('latin1');
    wake?.();
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    closed,
    get received() {
      return received;
    },
    get(path: string) {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`);
    },
    async until(re: RegExp): Promise<string> {
      for (;;) {
        if (re.test(received)) return received;
        if (socket.destroyed) throw new Error(`closed without ${re}; got ${JSON.stringify(received)}`);
        await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
      }
    },
  };
}

describe('_changes: too many connections, end to end', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 1,
      vbuckets: 16,
      buckets: ['default'],
      users: { Administrator: 'password' },
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('past maxConnections: 503 TRIB_CHANGES_TOO_MANY_CONNECTIONS (HTTP and websocket), flood dropped, silent sockets 408; admitted clients served', {
    timeout: 60_000,
  }, async () => {
    const MAX = 4;
    const { index, server, port, close } = await startChangesRig(cluster, {
      maxConnections: MAX,
      headersTimeoutMs: 1500, // long enough that no flood socket times out while the flood is counted
      keepAliveTimeoutMs: 60_000,
    });
    const open: Awaited<ReturnType<typeof raw>>[] = [];
    try {
      const bucket = cluster.bucket('default');
      // A silent socket is closed with 408 after headersTimeoutMs, counted.
      const silent = await raw(port);
      await silent.closed;
      expect(silent.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(server.stats().counters.request_timeouts).toBe(1);
      await waitFor('the silent socket released', () => server.stats().connections === 0, {
        timeoutMs: 5000,
      });

      // Fill the cap: a longpoll and three keep-alive clients.
      for (let i = 0; i < MAX; i++) open.push(await raw(port));
      await waitFor('all admitted', () => server.stats().connections === MAX, { timeoutMs: 5000 });
      open[0]!.get('/db/_changes?feed=longpoll&since=now&timeout=30000');
      await waitFor('the longpoll waiting', () => index.stats().waiters === 1, { timeoutMs: 5000 });
      for (const c of open.slice(1)) {
        c.get('/db/_changes?limit=1');
        await c.until(/"last_seq"/);
      }

      const over = await raw(port);
      over.get('/db/_changes');
      await over.closed;
      expect(over.received).toMatch(/^HTTP\/1\.1 503 /);
      expect(over.received).toContain('"code":"TRIB_CHANGES_TOO_MANY_CONNECTIONS"');
      const ws = new WebSocket(`ws://127.0.0.1:${port}/db/_changes?feed=websocket`, {
        headers: { authorization: AUTH },
      });
      const wsStatus = await new Promise<number>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => reject(new Error('websocket admitted past the cap')));
        ws.once('error', reject);
      });
      expect(wsStatus).toBe(503);
      ws.terminate();

      // A flood: 256 refusals may wait for their answer, the rest are dropped unanswered.
      const flood: Awaited<ReturnType<typeof raw>>[] = [];
      for (let i = 0; i < 300; i++) flood.push(await raw(port));
      await waitFor(
        'the flood refused',
        () => server.stats().counters.refused_too_many_connections === 2 + 300,
        {
          timeoutMs: 10_000,
        },
      );
      const dropped = flood.slice(256);
      await Promise.all(dropped.map((c) => c.closed));
      expect(dropped.every((c) => c.received === '')).toBe(true);
      for (const c of flood) c.socket.destroy();

      // Through it all the admitted clients are served: a cluster write wakes the longpoll.
      expect(server.stats().connections).toBe(MAX);
      bucket.upsert('after', { channels: ['news'] });
      expect(await open[0]!.until(/"after"/)).toMatch(/^HTTP\/1\.1 200 /);
      const mark = open[1]!.received.length;
      open[1]!.get('/db/_changes?since=0');
      const all = (await open[1]!.until(/"after"[\s\S]*"last_seq"/)).slice(mark);
      expect(all).toMatch(/^HTTP\/1\.1 200 /);
      expect(all).toContain('"before"');
    } finally {
      for (const c of open) c.socket.destroy();
      await close();
    }
  });
});
