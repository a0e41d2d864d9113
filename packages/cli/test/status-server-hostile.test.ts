// Issue #22: the status page port held 300 slowloris connections for as long as they liked, had
// no connection cap, and the live-events stream took any number of clients and queued events for
// clients that never read. Now: header timeout, cap (503), events client cap (503) and a bound on
// each client's unread events (dropped past it), each counted.
import net from 'node:net';
import { createChannelIndex } from '@tributary/channel-index';
import { type Cluster, startCluster } from '@tributary/cluster';
import { createBucketDataSource } from '@tributary/datasource';
import { createMetrics } from '@tributary/metrics';
import { createMemoryStore } from '@tributary/store-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusServer, type StatusServerOptions } from '../src/status/status-server.js';

let cluster: Cluster;
beforeAll(async () => {
  // 1024 vbuckets: a snapshot of ~70 KB, so a stalled client's socket buffers fill in a second.
  cluster = await startCluster({ buckets: ['default'], users: { Administrator: 'password' } });
});
afterAll(async () => {
  await cluster?.close();
});

async function statusServer(o: Partial<StatusServerOptions> = {}, streaming = false) {
  const metrics = createMetrics();
  const index = createChannelIndex({ store: createMemoryStore(), metrics });
  const dataSource = createBucketDataSource({
    serverUrls: [cluster.managementUrl],
    bucketName: 'default',
    auth: { username: 'Administrator', password: 'password' },
    receiver: index,
    options: { metrics },
  });
  if (streaming) await dataSource.start(); // snapshots then list every vbucket
  const s = new StatusServer({ title: 't', index, dataSource, metrics, ...o });
  const url = await s.listen();
  return {
    s,
    metrics,
    port: Number(new URL(url).port),
    counter: (name: string) => metrics.group('status_http').snapshot().counters[name] ?? 0,
    close: async () => {
      await s.close();
      await dataSource.close();
      await index.close();
    },
  };
}

/** The status line of the answer to `request` on a new connection ('closed' when none came). */
function ask(
  port: number,
  request: string,
  keepOpen = false,
): Promise<{ status: number | string; socket: net.Socket; text: () => string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (status: number | string) => {
      if (done) return;
      done = true;
      if (!keepOpen) socket.destroy();
      resolve({ status, socket, text: () => got });
    };
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m && got.includes('\r\n\r\n')) finish(Number(m[1]));
    });
    socket.on('error', (e: NodeJS.ErrnoException) => finish(String(e.code)));
    socket.on('close', () => finish('closed'));
  });
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

describe('status page port under hostile clients (#22)', () => {
  it('slowloris: 300 connections trickling headers are dropped at the header timeout; the page is served meanwhile', {
    timeout: 30_000,
  }, async () => {
    const st = await statusServer({ limits: { headersTimeoutMs: 500 } });
    const sockets: net.Socket[] = [];
    let closed = 0;
    const t0 = Date.now();
    for (let i = 0; i < 300; i++) {
      const s = net.connect(st.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => closed++);
      sockets.push(s);
    }
    const header = `GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(5000)}`;
    let pos = 0;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write(header[pos % header.length]!);
      pos++;
    }, 50);
    try {
      expect((await ask(st.port, GET('/status.json'))).status).toBe(200);
      while (closed < 300) {
        if (Date.now() - t0 > 15_000) throw new Error(`${closed} of 300 dropped`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
      expect(st.counter('request_timeouts')).toBe(300);
      expect((await ask(st.port, GET('/metrics'))).status).toBe(200);
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
      await st.close();
    }
  });

  it('past the connection cap a connection is answered 503', async () => {
    const st = await statusServer({ limits: { maxConnections: 3, keepAliveTimeoutMs: 60_000 } });
    try {
      const held = await Promise.all([1, 2, 3].map(() => ask(st.port, GET('/status.json'), true)));
      expect(held.map((h) => h.status)).toEqual([200, 200, 200]);
      const over = await ask(st.port, GET('/status.json'));
      expect(over.status).toBe(503);
      expect(st.counter('connections_refused')).toBe(1);
      for (const h of held) h.socket.destroy();
    } finally {
      await st.close();
    }
  });

  it('live events: past maxEventClients a client gets 503 TRIB_CLI_STATUS_CLIENTS; a client that stops reading is dropped', {
    timeout: 30_000,
  }, async () => {
    const st = await statusServer(
      { maxEventClients: 2, maxEventBufferBytes: 256 * 1024, eventIntervalMs: 20 },
      true,
    );
    try {
      const a = await ask(st.port, GET('/status/events'), true);
      const b = await ask(st.port, GET('/status/events'), true);
      expect([a.status, b.status]).toEqual([200, 200]);
      const c = await ask(st.port, GET('/status/events'));
      expect(c.status).toBe(503);
      await new Promise<void>((r) => c.socket.once('close', () => r()));
      expect(c.text()).toContain('"code":"TRIB_CLI_STATUS_CLIENTS"');
      expect(st.counter('event_clients_refused')).toBe(1);
      // `a` stops reading: snapshots fill the socket buffers, then pile up unread on our side until
      // past 256 KiB, and it is dropped. `b` keeps reading and stays.
      a.socket.pause();
      const deadline = Date.now() + 25_000;
      while (st.counter('event_clients_dropped') === 0) {
        if (Date.now() > deadline) throw new Error('the stalled client was never dropped');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(b.socket.destroyed).toBe(false);
      // Its slot is free again.
      const d = await ask(st.port, GET('/status/events'), true);
      expect(d.status).toBe(200);
      for (const x of [a, b, d]) x.socket.destroy();
    } finally {
      await st.close();
    }
  });
});
