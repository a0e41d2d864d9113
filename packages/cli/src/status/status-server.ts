import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChannelIndex } from '@tributary/channel-index';
import type { BucketDataSource } from '@tributary/datasource';
import { type MetricsRegistry, toPrometheus } from '@tributary/metrics';
import type { FastifyInstance } from 'fastify';
import { STATUS_PAGE_HTML } from './status-page.js';

export interface StatusSnapshot {
  title: string;
  at: number;
  rate: number;
  /** Mutations+deletions per second, one entry per second, oldest first (≤ 300). */
  history: number[];
  counters: { mutations: number; deletions: number; entries: number; rollbacks: number };
  lagTotal: number;
  vbuckets: { vbucket: number; state: string; lastSeq: number; highSeqno: number; lag: number }[];
  workers: { server: string; connected: boolean; vbuckets: number }[];
  errorCount: number;
  errors: string[];
}

export interface StatusServerOptions {
  title: string;
  index: ChannelIndex;
  dataSource: BucketDataSource;
  metrics: MetricsRegistry;
  host?: string;
  port?: number;
}

/** The paths a StatusServer answers. */
export const STATUS_PATHS = ['/status', '/status.json', '/status/events', '/metrics'] as const;

/**
 * `/status` (HTML), `/status/events` (SSE, one snapshot a second), `/status.json`, `/metrics`:
 * on a port of its own (`listen`) or on another HTTP server's routes (`mount`, then `start`).
 */
export class StatusServer {
  private server: Server | undefined;
  private readonly history: number[] = [];
  private readonly errors: string[] = [];
  private errorCount = 0;
  private lastTotal = 0;
  private lastAt = performance.now();
  private rate = 0;
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: StatusServerOptions) {}

  /** Answers one of STATUS_PATHS (or `/` on a port of its own); false when the path is not ours. */
  handle(req: IncomingMessage, res: ServerResponse, ownPort = false): boolean {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/status' || (ownPort && path === '/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATUS_PAGE_HTML);
    } else if (path === '/status.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.snapshot()));
    } else if (path === '/status/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      res.write(`data: ${JSON.stringify(this.snapshot())}\n\n`);
      if (this.closed) res.end();
      else {
        this.clients.add(res);
        req.on('close', () => this.clients.delete(res));
      }
    } else if (path === '/metrics') {
      toPrometheus(this.o.metrics).then(
        (text) => res.writeHead(200, { 'content-type': this.o.metrics.contentType }).end(text),
        (err: unknown) => {
          this.noteError(err);
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
        },
      );
    } else {
      return false;
    }
    return true;
  }

  /** Adds GET routes for STATUS_PATHS to a fastify app (before it listens), e.g. the `_changes` server's. */
  mount(app: FastifyInstance): void {
    for (const path of STATUS_PATHS) {
      app.get(path, (req, reply) => {
        reply.hijack();
        this.handle(req.raw, reply.raw);
      });
    }
  }

  /** Starts the once-a-second sampling (`listen` does it; call it after `mount`). */
  start(): void {
    if (this.timer || this.closed) return;
    this.lastTotal = this.total();
    this.lastAt = performance.now();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  /** Records an error for the page (the last 20 are shown). */
  noteError(err: unknown): void {
    this.errorCount++;
    this.errors.push(`${new Date().toISOString().slice(11, 19)} ${(err as Error)?.message ?? String(err)}`);
    if (this.errors.length > 20) this.errors.shift();
  }

  private total(): number {
    const c = this.o.index.stats().counters;
    return (c.mutations ?? 0) + (c.deletions ?? 0);
  }

  private tick(): void {
    const now = performance.now();
    const total = this.total();
    this.rate = Math.round(((total - this.lastTotal) * 1000) / Math.max(1, now - this.lastAt));
    this.lastTotal = total;
    this.lastAt = now;
    this.history.push(this.rate);
    if (this.history.length > 300) this.history.shift();
    if (this.clients.size) {
      const data = `data: ${JSON.stringify(this.snapshot())}\n\n`;
      for (const c of this.clients) c.write(data);
    }
  }

  /** Mutations+deletions indexed per second over the last second. */
  get currentRate(): number {
    return this.rate;
  }

  snapshot(): StatusSnapshot {
    const ds = this.o.dataSource.stats();
    const c = this.o.index.stats().counters;
    return {
      title: this.o.title,
      at: Date.now(),
      rate: this.rate,
      history: [...this.history],
      counters: {
        mutations: c.mutations ?? 0,
        deletions: c.deletions ?? 0,
        entries: c.entries ?? 0,
        rollbacks: c.rollbacks ?? 0,
      },
      lagTotal: ds.lagTotal,
      vbuckets: ds.vbuckets.map((v) => ({
        vbucket: v.vbucket,
        state: v.state,
        lastSeq: v.lastSeq,
        highSeqno: v.highSeqno,
        lag: v.lag,
      })),
      workers: ds.workers.map((w) => ({ server: w.server, connected: w.connected, vbuckets: w.vbuckets })),
      errorCount: this.errorCount,
      errors: [...this.errors],
    };
  }

  /** Serves on a port of its own (`/` is the page too); resolves to its base URL. */
  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      if (!this.handle(req, res, true))
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve());
    });
    this.start();
    const a = server.address() as AddressInfo;
    return `http://${this.o.host ?? '127.0.0.1'}:${a.port}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
