// The cluster-manager REST endpoint (what ns_server serves on port 8091), one per node. It faces
// the network without a login for its first bytes: the request target, the Basic credentials and
// the bucket names in paths are hostile input, checked before use (users in a Map, escapes
// decoded inside a try), and the server itself is a guarded one (timeouts, connection cap within
// the fd limit, 4xx for what Node cannot parse, 500 instead of a crash).
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Connection,
  createGuardedHttpServer,
  type HttpGuard,
  type HttpGuardOptions,
  type Logger,
  type MetricsScope,
  nullMetrics,
} from '@tributary/core';
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
import type { BucketCollections } from './collections/bucket-collections.js';
import { handleCollectionsWrite, SCOPES_PATH } from './collections/collections-rest.js';

export interface MgmtContext {
  view(): ConfigView;
  buckets(): ConfigBucket[];
  users: Readonly<Record<string, string>>;
  /** The host a node is advertised under (`local` = the address the client reached). */
  hostFor(node: number, local: string): string;
  /** A bucket's collections manifest (GET /pools/default/buckets/<b>/scopes). */
  manifest(bucket: string): unknown;
  /** A bucket's scopes and collections, for POST / DELETE under .../scopes. */
  collections?(bucket: string): BucketCollections | undefined;
  log: Logger;
  /** Timeouts and connection cap of the listener (defaults: createGuardedHttpServer's). */
  limits?: Omit<HttpGuardOptions, 'log' | 'metrics'>;
  metrics?: MetricsScope;
}

const SEPARATOR = '\n\n\n\n';
/** A streaming client that has this much of our output unread is dropped (it stopped reading). */
const STREAM_MAX_BUFFERED = 1024 * 1024;
/** Longest bucket name echoed back in a 404 (Couchbase bucket names are at most 100 bytes). */
const MAX_ECHO = 100;

/**
 * The path of an origin-form request target ("/pools/default"), or of an absolute-form one
 * ("http://host/pools"); undefined for anything else ("//", "/\\x", "*", what `new URL` rejects),
 * which is answered 400 rather than read as a host.
 */
export function requestPath(raw: string): string | undefined {
  const absolute = /^https?:\/\//i.test(raw);
  if (!absolute && (raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\')) return undefined;
  try {
    return new URL(raw, 'http://x').pathname;
  } catch {
    return undefined;
  }
}

/** A percent-encoded path segment decoded, or undefined when its escapes are malformed. */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function localHostOf(req: http.IncomingMessage): string {
  const a = req.socket.localAddress ?? '127.0.0.1';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** GET /settings/rbac/users[/local]: every user here has full access (role admin). */
function rbacUsers(users: Readonly<Record<string, string>>): unknown[] {
  return Object.keys(users).map((id) => ({
    id,
    domain: 'local',
    roles: [{ role: 'admin', origins: [{ type: 'user' }] }],
    groups: [],
    external_groups: [],
    name: '',
  }));
}

export class MgmtServer {
  readonly #server: http.Server;
  readonly #guard: HttpGuard;
  /** Looked up by the name a client sends: a Map, so "constructor" or "__proto__" is just unknown. */
  readonly #users: ReadonlyMap<string, Buffer>;
  readonly #streams = new Set<{ res: http.ServerResponse; write: () => void }>();
  readonly #slowStreams: { inc(n?: number): void };
  #port = 0;

  constructor(
    readonly node: number,
    readonly ctx: MgmtContext,
  ) {
    this.#users = new Map(Object.entries(ctx.users).map(([u, p]) => [u, Buffer.from(p)]));
    const { server, guard } = createGuardedHttpServer(
      { ...ctx.limits, log: ctx.log.child({ component: 'cluster-rest' }), metrics: ctx.metrics },
      (req, res) => this.#handle(req, res),
    );
    this.#server = server;
    this.#guard = guard;
    this.#slowStreams = (ctx.metrics ?? nullMetrics()).counter(
      'slow_streams_dropped',
      'Streaming config clients dropped for not reading',
    );
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
    this.#guard.close();
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
    const pass = Buffer.from(raw.slice(i + 1));
    const want = this.#users.get(raw.slice(0, i));
    // An unknown user costs the same comparison as a wrong password.
    const w = want ?? pass;
    const same = w.length === pass.length && timingSafeEqual(w, pass);
    return want !== undefined && same;
  }

  #hosts(req: http.IncomingMessage): HostOptions {
    const local = localHostOf(req);
    return { thisNode: this.node, hostFor: (n) => this.ctx.hostFor(n.index, local) };
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const target = requestPath(req.url ?? '/');
    if (target === undefined) return this.#send(res, 400, { error: 'bad request target' });
    const path = target.replace(/\/+$/, '') || '/';
    const lookup = this.ctx.collections;
    if ((req.method === 'POST' || req.method === 'DELETE') && lookup && SCOPES_PATH.test(path)) {
      if (!this.#authorized(req)) {
        res.writeHead(401, {
          'WWW-Authenticate': 'Basic realm="Couchbase Server Admin / REST"',
          'Content-Length': 0,
        });
        res.end();
        return;
      }
      handleCollectionsWrite(req, res, path, (b) => lookup.call(this.ctx, b)).catch((err: unknown) => {
        this.ctx.log.warn({ err }, 'collections request failed');
        if (!res.headersSent) this.#send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
      return;
    }
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
    const bucketNamed = (name: string) => this.ctx.buckets().find((b) => b.name === name);
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
    if (path === '/settings/rbac/users' || path === '/settings/rbac/users/local')
      return this.#send(res, 200, rbacUsers(this.ctx.users));
    const sc = /^\/pools\/default\/buckets\/([^/]+)\/scopes$/.exec(path);
    if (sc) {
      const name = decodeSegment(sc[1]);
      if (name === undefined)
        return this.#send(res, 400, { error: 'malformed percent-encoding in the bucket name' });
      const b = bucketNamed(name);
      if (!b) return this.#notFound(res, name);
      return this.#send(res, 200, this.ctx.manifest(b.name));
    }
    const m = /^\/pools\/default\/(buckets|b|bs|bucketsStreaming)\/([^/]+)$/.exec(path);
    if (!m) {
      // ns_server's menelaus_util:reply_not_found.
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
      res.end('Not found.');
      return;
    }
    const name = decodeSegment(m[2]);
    if (name === undefined)
      return this.#send(res, 400, { error: 'malformed percent-encoding in the bucket name' });
    const b = bucketNamed(name);
    if (!b) return this.#notFound(res, name);
    if (m[1] === 'buckets') return this.#send(res, 200, fullBucketConfig(view, b, hosts));
    if (m[1] === 'b') return this.#send(res, 200, terseBucketConfig(view, b, hosts));
    const terse = m[1] === 'bs';
    // The bucket looked up again for every push: its config changes too (collectionsManifestUid).
    this.#stream(res, () => {
      const cur = bucketNamed(name) ?? b;
      return terse
        ? terseBucketConfig(this.ctx.view(), cur, hosts)
        : fullBucketConfig(this.ctx.view(), cur, hosts);
    });
  }

  #notFound(res: http.ServerResponse, name: string) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end(`Requested resource not found.\r\nbucket ${name.slice(0, MAX_ECHO)}`);
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
    // Written to only when the config changes: no idle timeout, but a bound on unread output.
    this.#guard.longLived(res);
    let lastRev = -1;
    const entry = {
      res,
      write: () => {
        const body = build() as { rev?: number };
        if (body.rev !== undefined && body.rev === lastRev) return;
        if (res.writableLength > STREAM_MAX_BUFFERED) {
          this.#slowStreams.inc();
          this.#guard.repeats.note(
            'warn',
            'slow-stream',
            {},
            'streaming config client is not reading: dropped',
          );
          res.destroy();
          return;
        }
        lastRev = body.rev ?? -1;
        res.write(JSON.stringify(body) + SEPARATOR);
      },
    };
    this.#streams.add(entry);
    res.on('close', () => this.#streams.delete(entry));
    entry.write();
  }
}
