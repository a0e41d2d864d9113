import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createGuardedHttpServer,
  type HttpGuard,
  type HttpGuardOptions,
  type Logger,
  RepeatLog,
  silentLogger,
} from '@tributary/core';
import { type MetricsRegistry, toPrometheus } from '@tributary/metrics';
import type { FastifyInstance } from 'fastify';
import { ErrCliStatusClients } from '../errors.js';
import { StatusModel, type StatusModelOptions, type StatusSnapshot } from './status-model.js';
import { renderStatusBody, renderStatusPage } from './status-page.js';

export type { StatusSnapshot } from './status-model.js';

export interface StatusServerOptions extends StatusModelOptions {
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
  /** Live-events clients get a rendering this often (default 1000 ms; the numbers are sampled each second). */
  eventIntervalMs?: number;
  /** Timeouts and connection cap of the port of its own (`listen`): see createGuardedHttpServer. */
  limits?: Omit<HttpGuardOptions, 'log' | 'metrics'>;
  logger?: Logger;
}

/** The paths a StatusServer answers. */
export const STATUS_PATHS = [
  '/status',
  '/status.json',
  '/status/events',
  '/metrics',
  '/healthz',
  '/readyz',
] as const;

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `/status` (HTML with the current snapshot in it), `/status/events` (server-sent events, one
 * rendering a second), `/status.json`, `/metrics` (Prometheus), `/healthz` and `/readyz` (JSON,
 * 200 or 503): on a port of its own (`listen`) or on another HTTP server's routes (`mount`, then
 * `start`).
 */
export class StatusServer {
  private server: Server | undefined;
  readonly model: StatusModel;
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
    this.model = new StatusModel(o);
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
    const maxLag = this.o.readyMaxLagSeconds ?? 10;
    if (path === '/status' || (ownPort && path === '/')) {
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        .end(renderStatusPage(this.model.snapshot(), maxLag));
    } else if (path === '/status.json') {
      res.writeHead(200, { 'content-type': JSON_TYPE }).end(JSON.stringify(this.model.snapshot()));
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
      // Written to every second, and dropped when it stops reading (see push): no idle timeout.
      this.guard?.longLived(res);
      res.write(this.event(this.model.snapshot()));
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
    } else if (path === '/healthz') {
      this.model.health().then(
        (r) => res.writeHead(r.status, { 'content-type': JSON_TYPE }).end(JSON.stringify(r.body)),
        (err: unknown) =>
          res
            .writeHead(503, { 'content-type': JSON_TYPE })
            .end(JSON.stringify({ status: 'fail', error: String((err as Error)?.message ?? err) })),
      );
    } else if (path === '/readyz') {
      const r = this.model.readiness();
      res.writeHead(r.status, { 'content-type': JSON_TYPE }).end(JSON.stringify(r.body));
    } else {
      return false;
    }
    return true;
  }

  private event(s: StatusSnapshot): string {
    const html = renderStatusBody(s, this.o.readyMaxLagSeconds ?? 10);
    return `data: ${JSON.stringify({ at: s.at, state: s.verdict.state, html })}\n\n`;
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
    this.model.tick();
    this.timer = setInterval(() => this.tick(), 1000);
    const every = this.o.eventIntervalMs ?? 1000;
    if (every !== 1000) this.eventTimer = setInterval(() => this.push(), every);
  }

  /** Records an error for the page (grouped by code and message, with a count and the last time). */
  noteError(err: unknown): void {
    this.model.noteError(err);
  }

  private tick(): void {
    this.model.tick();
    if (!this.eventTimer) this.push();
  }

  /** Sends the latest rendering to every live-events client. */
  private push(): void {
    if (this.clients.size === 0) return;
    const data = this.event(this.model.snapshot());
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

  /** Mutations+deletions indexed per second over the last second. */
  get currentRate(): number {
    return this.model.snapshot().rates.indexed;
  }

  snapshot(): StatusSnapshot {
    return this.model.snapshot();
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
    this.model.close();
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
