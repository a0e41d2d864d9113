import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChannelIndex } from '@tributary/channel-index';
import {
  createGuardedHttpServer,
  type HttpGuard,
  type HttpGuardOptions,
  type Logger,
  RepeatLog,
  silentLogger,
} from '@tributary/core';
import type { BucketDataSource } from '@tributary/datasource';
import { type MetricsRegistry, toPrometheus } from '@tributary/metrics';
import type { FastifyInstance } from 'fastify';
import { ErrCliStatusClients } from '../errors.js';
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
  /**
   * Live-events (`/status/events`) clients at once (default 64); one more is answered 503
   * TRIB_CLI_STATUS_CLIENTS. A client that leaves `maxEventBufferBytes` (default 256 KiB) of
   * events unread is dropped (it stopped reading), so memory stays bounded.
   */
  maxEventClients?: number;
  maxEventBufferBytes?: number;
  /** Live-events clients get a snapshot this often (default 1000 ms; the rate is sampled each second). */
  eventIntervalMs?: number;
  /** Timeouts and connection cap of the port of its own (`listen`): see createGuardedHttpServer. */
  limits?: Omit<HttpGuardOptions, 'log' | 'metrics'>;
  logger?: Logger;
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
  private eventTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private guard: HttpGuard | undefined;
  private readonly log: Logger;
  private readonly repeats: RepeatLog;
  private readonly maxEventClients: number;
  private readonly maxEventBufferBytes: number;
  private readonly counters: {
    refused: { inc(n?: number): void };
    dropped: { inc(n?: number): void };
  };

  constructor(private readonly o: StatusServerOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'status-server' });
    this.repeats = new RepeatLog(this.log);
    this.maxEventClients = o.maxEventClients ?? 64;
    this.maxEventBufferBytes = o.maxEventBufferBytes ?? 256 * 1024;
    const g = o.metrics.group('status_http');
    this.counters = {
      refused: g.counter('event_clients_refused', 'Live-events clients refused at maxEventClients (503)'),
      dropped: g.counter('event_clients_dropped', 'Live-events clients dropped for not reading'),
    };
    g.gaugeFrom('event_clients', 'Live-events clients connected', () => this.clients.size);
  }

  /** Answers one of STATUS_PATHS (or `/` on a port of its own); false when the path is not ours. */
  handle(req: IncomingMessage, res: ServerResponse, ownPort = false): boolean {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/status' || (ownPort && path === '/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATUS_PAGE_HTML);
    } else if (path === '/status.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.snapshot()));
    } else if (path === '/status/events') {
      if (!this.closed && this.clients.size >= this.maxEventClients) {
        this.counters.refused.inc();
        const err = ErrCliStatusClients(this.maxEventClients);
        this.repeats.note(
          'warn',
          'events-refused',
          { code: err.code, max: this.maxEventClients },
          err.message,
        );
        res
          .writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' })
          .end(JSON.stringify({ error: 'Service Unavailable', reason: err.message, code: err.code }));
        return true;
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      // Written to every second, and dropped when it stops reading (see tick): no idle timeout.
      this.guard?.longLived(res);
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
    const every = this.o.eventIntervalMs ?? 1000;
    if (every !== 1000) this.eventTimer = setInterval(() => this.push(), every);
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
    if (!this.eventTimer) this.push();
  }

  /** Sends the snapshot to every live-events client. */
  private push(): void {
    if (this.clients.size) {
      const data = `data: ${JSON.stringify(this.snapshot())}\n\n`;
      for (const c of this.clients) {
        // Back-pressure: a client with this much unread is not reading; drop it, memory stays bounded.
        if (c.writableLength + data.length > this.maxEventBufferBytes) {
          this.clients.delete(c);
          this.counters.dropped.inc();
          this.repeats.note('warn', 'events-dropped', {}, 'live-events client is not reading: dropped');
          c.destroy();
          continue;
        }
        c.write(data);
      }
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
    const { server, guard } = createGuardedHttpServer(
      { ...this.o.limits, log: this.log, metrics: this.o.metrics.group('status_http') },
      (req, res) => {
        if (!this.handle(req, res, true))
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      },
    );
    this.server = server;
    this.guard = guard;
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
    if (this.eventTimer) clearInterval(this.eventTimer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.guard?.close();
    this.repeats.flush();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
