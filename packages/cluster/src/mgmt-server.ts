// The cluster-manager REST endpoint (what ns_server serves on port 8091), one per node.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection, Logger } from '@tributary/core';
import {
  type ConfigBucket,
  type ConfigView,
  fullBucketConfig,
  type HostOptions,
  nodeServices,
  poolDefault,
  poolsInfo,
  terseBucketConfig,
} from './bucket-config.js';

export interface MgmtContext {
  view(): ConfigView;
  buckets(): ConfigBucket[];
  users: Readonly<Record<string, string>>;
  /** The host a node is advertised under (`local` = the address the client reached). */
  hostFor(node: number, local: string): string;
  log: Logger;
}

const SEPARATOR = '\n\n\n\n';

function localHostOf(req: http.IncomingMessage): string {
  const a = req.socket.localAddress ?? '127.0.0.1';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export class MgmtServer {
  readonly #server: http.Server;
  readonly #streams = new Set<{ res: http.ServerResponse; write: () => void }>();
  #port = 0;

  constructor(
    readonly node: number,
    readonly ctx: MgmtContext,
  ) {
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 5000;
  }

  get port(): number {
    return this.#port;
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    return this.#port;
  }

  /** Serves a connection accepted elsewhere (the HTTPS port's TLS listener). */
  accept(conn: Connection): void {
    this.#server.emit('connection', conn);
  }

  /** A new config: every streaming client gets it. */
  configChanged() {
    for (const s of this.#streams) s.write();
  }

  async close(): Promise<void> {
    for (const s of this.#streams) s.res.destroy();
    this.#streams.clear();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #authorized(req: http.IncomingMessage): boolean {
    const h = req.headers.authorization;
    if (!h?.startsWith('Basic ')) return false;
    const raw = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const i = raw.indexOf(':');
    if (i < 0) return false;
    const user = raw.slice(0, i);
    const pass = Buffer.from(raw.slice(i + 1));
    const want = this.ctx.users[user];
    if (want === undefined) return false;
    const w = Buffer.from(want);
    return w.length === pass.length && timingSafeEqual(w, pass);
  }

  #hosts(req: http.IncomingMessage): HostOptions {
    const local = localHostOf(req);
    return { thisNode: this.node, hostFor: (n) => this.ctx.hostFor(n.index, local) };
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return this.#send(res, 405, { error: 'method not allowed' });
    if (path === '/')
      return this.#send(res, 200, {
        implementationVersion: poolsInfo(this.ctx.view()).implementationVersion,
      });
    if (!this.#authorized(req)) {
      res.writeHead(401, {
        'WWW-Authenticate': 'Basic realm="Couchbase Server Admin / REST"',
        'Content-Length': 0,
      });
      res.end();
      return;
    }
    const view = this.ctx.view();
    const hosts = this.#hosts(req);
    const bucketNamed = (name: string) => this.ctx.buckets().find((b) => b.name === decodeURIComponent(name));
    if (path === '/pools') return this.#send(res, 200, poolsInfo(view));
    if (path === '/pools/default') return this.#send(res, 200, poolDefault(view, this.ctx.buckets(), hosts));
    if (path === '/poolsStreaming/default')
      return this.#stream(res, () => poolDefault(this.ctx.view(), this.ctx.buckets(), hosts));
    if (path === '/pools/default/nodeServices') return this.#send(res, 200, nodeServices(view, hosts));
    if (path === '/pools/default/buckets')
      return this.#send(
        res,
        200,
        this.ctx.buckets().map((b) => fullBucketConfig(view, b, hosts)),
      );
    let m = /^\/pools\/default\/buckets\/([^/]+)$/.exec(path);
    if (m) {
      const b = bucketNamed(m[1]);
      if (!b) return this.#notFound(res, m[1]);
      return this.#send(res, 200, fullBucketConfig(view, b, hosts));
    }
    m = /^\/pools\/default\/b\/([^/]+)$/.exec(path);
    if (m) {
      const b = bucketNamed(m[1]);
      if (!b) return this.#notFound(res, m[1]);
      return this.#send(res, 200, terseBucketConfig(view, b, hosts));
    }
    m = /^\/pools\/default\/(bs|bucketsStreaming)\/([^/]+)$/.exec(path);
    if (m) {
      const b = bucketNamed(m[2]);
      if (!b) return this.#notFound(res, m[2]);
      const terse = m[1] === 'bs';
      return this.#stream(res, () =>
        terse ? terseBucketConfig(this.ctx.view(), b, hosts) : fullBucketConfig(this.ctx.view(), b, hosts),
      );
    }
    this.#send(res, 404, { error: 'not found' });
  }

  #notFound(res: http.ServerResponse, name: string) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end(`Requested resource not found.\r\nbucket ${decodeURIComponent(name)}`);
  }

  #send(res: http.ServerResponse, status: number, body: unknown) {
    const s = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(s),
      'Cache-Control': 'no-cache,no-store,must-revalidate',
    });
    res.end(s);
  }

  #stream(res: http.ServerResponse, build: () => unknown) {
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
    let lastRev = -1;
    const entry = {
      res,
      write: () => {
        const body = build() as { rev?: number };
        if (body.rev !== undefined && body.rev === lastRev) return;
        lastRev = body.rev ?? -1;
        res.write(JSON.stringify(body) + SEPARATOR);
      },
    };
    this.#streams.add(entry);
    res.on('close', () => this.#streams.delete(entry));
    entry.write();
  }
}
