import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import {
  componentLogger,
  connectionSlots,
  ErrInvalidArgument,
  isTributaryError,
  type Logger,
  RepeatLog,
} from '@tributary/core';
import { createMetrics, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { WebSocket } from 'ws';
import { CHANGES_METRICS_HELP } from './changes-metrics.js';
import {
  type ChangeEntry,
  type ChangesResult,
  type ChannelIndex,
  validateChannelName,
} from './channel-index.js';
import { ErrBadParameter, ErrTooManyConnections, ErrTooManyWaitingClients } from './errors.js';
import { entryJson, RESULTS_HEAD, SharedTails } from './internal/answer-bodies.js';
import { decodeSince } from './since-token.js';
import { type User, type UserStore, validateUserName } from './user-store.js';

export interface ChangesDatabase {
  index: ChannelIndex;
  users: UserStore;
}

export interface ChangesServerOptions {
  /** Databases served, by name: `/{db}/_changes`. */
  databases: Record<string, ChangesDatabase>;
  /** A built-in admin (channel "*") that is not stored, e.g. to create the first users. */
  admin?: { username: string; password: string };
  /** Longpoll/continuous timeout when the request gives none (default 300,000 ms, as Sync Gateway). */
  defaultTimeoutMs?: number;
  /** Upper bound on the timeout parameter (default 900,000 ms). */
  maxTimeoutMs?: number;
  /** Entries read per page while streaming a feed (default 500). */
  pageSize?: number;
  /**
   * Longpoll, continuous and websocket feeds open at once (default 10,000). One more is refused
   * (HTTP 503, websocket close 1013) with TRIB_CHANGES_TOO_MANY_CLIENTS; open feeds are untouched.
   */
  maxWaitingClients?: number;
  /**
   * TCP connections open at once, of every kind (default 16,384; never more than the process's
   * file-descriptor limit allows, shared with its other listeners: core's `connectionSlots()`).
   * The next ones are answered HTTP 503 with TRIB_CHANGES_TOO_MANY_CONNECTIONS and closed; past
   * another REFUSAL_SLOTS (256) at once, Node closes them without an answer. Both are counted.
   */
  maxConnections?: number;
  /**
   * An idle keep-alive connection is closed this long after its last response (Node adds 1 s).
   * Default 72,000 ms (fastify's): longer than the 60 s idle timeout of common load balancers, so
   * they never reuse a connection the server is closing. Lower it when clients connect directly.
   */
  keepAliveTimeoutMs?: number;
  /** A connection must send a request's headers this soon after connecting (default 10,000 ms), else 408 and closed. */
  headersTimeoutMs?: number;
  /** ... and the whole request, body included (default 30,000 ms; never below headersTimeoutMs). */
  requestTimeoutMs?: number;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

export interface ChangesServer {
  readonly app: FastifyInstance;
  listen(options?: { host?: string; port?: number }): Promise<{ url: string; port: number }>;
  stats(): {
    activeFeeds: number;
    waitingClients: number;
    /**
     * Longpolls waiting for a change now (registered in the index through their group: identical
     * longpolls share one index waiter, so this, not the index's waiter count, counts clients).
     */
    longpollsWaiting: number;
    /** Connections admitted and open now (refused ones not included). */
    connections: number;
    counters: Readonly<Record<string, number>>;
  };
  close(): Promise<void>;
}

type Feed = 'normal' | 'longpoll' | 'continuous' | 'websocket';

interface FeedParams {
  feed: Feed;
  since: string | undefined;
  limit: number | undefined;
  heartbeat: number;
  timeout: number;
  channels: string[] | undefined;
  includeDocs: boolean;
  activeOnly: boolean;
}

const FEEDS = new Set(['normal', 'longpoll', 'continuous', 'websocket']);

function bad(name: string, why: string): never {
  throw ErrBadParameter(name, why);
}

function asString(name: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') bad(name, 'must be a string');
  return v;
}

function asInt(name: string, v: unknown, min: number): number | undefined {
  const s = asString(name, v);
  if (s === undefined || s === '') return undefined;
  if (!/^\d+$/.test(s)) bad(name, 'must be a non-negative integer');
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min) bad(name, `must be an integer >= ${min}`);
  return n;
}

function asBool(name: string, v: unknown): boolean {
  const s = asString(name, v);
  if (s === undefined || s === '' || s === 'false') return false;
  if (s === 'true') return true;
  return bad(name, 'must be true or false');
}

function parseParams(
  raw: Record<string, unknown>,
  defaults: { timeout: number; maxTimeout: number },
  forcedFeed?: Feed,
): FeedParams {
  const feed = (asString('feed', raw.feed) ?? 'normal') as Feed;
  if (!FEEDS.has(feed)) bad('feed', 'must be normal, longpoll, continuous or websocket');
  let since = asString('since', raw.since);
  if (since !== undefined && since !== 'now') {
    try {
      decodeSince(since);
    } catch (err) {
      bad('since', (err as Error).message);
    }
  }
  if (since === '') since = undefined;
  const limit = asInt('limit', raw.limit, 1);
  const heartbeat = asInt('heartbeat', raw.heartbeat, 0) ?? 0;
  const timeout = Math.min(asInt('timeout', raw.timeout, 0) ?? defaults.timeout, defaults.maxTimeout);
  const filter = asString('filter', raw.filter);
  if (filter !== undefined && filter !== '' && filter !== 'sync_gateway/bychannel')
    bad('filter', 'only sync_gateway/bychannel is supported');
  let channels: string[] | undefined;
  if (raw.channels !== undefined && raw.channels !== null) {
    const list = Array.isArray(raw.channels)
      ? raw.channels
      : (asString('channels', raw.channels) ?? '').split(',');
    channels = [];
    for (const c of list) {
      if (typeof c !== 'string') bad('channels', 'must be channel names');
      const t = c.trim();
      if (t === '') continue;
      try {
        channels.push(validateChannelName(t));
      } catch (err) {
        bad('channels', (err as Error).message);
      }
    }
  }
  if (filter === 'sync_gateway/bychannel' && (!channels || channels.length === 0))
    bad('channels', 'required with filter=sync_gateway/bychannel');
  const style = asString('style', raw.style);
  if (style !== undefined && style !== '' && style !== 'main_only' && style !== 'all_docs')
    bad('style', 'must be main_only or all_docs');
  return {
    feed: forcedFeed ?? feed,
    since,
    limit,
    heartbeat,
    timeout,
    channels,
    includeDocs: asBool('include_docs', raw.include_docs),
    activeOnly: asBool('active_only', raw.active_only),
  };
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/** An open feed: its signal stops its reads and waits when the client leaves or the server closes. */
interface FeedHandle {
  readonly signal: AbortSignal;
  /** Stops the feed (client gone, server closing); releases its slot. */
  abort(): void;
  /** Releases its slot once the feed has ended by itself (no abort event to dispatch). */
  release(): void;
}

const FEED_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-cache' };

/**
 * The `_changes` HTTP feed of Sync Gateway / CouchDB over one or more channel indexes, with
 * users, channel grants and HTTP Basic authentication, and an admin API for users.
 */
export function createChangesServer(options: ChangesServerOptions): ChangesServer {
  const log = componentLogger(options.logger, 'changes-server');
  const m: MetricsGroup = (options.metrics ?? createMetrics())
    .group('changes-server')
    .describe(CHANGES_METRICS_HELP);
  const defaults = {
    timeout: options.defaultTimeoutMs ?? 300_000,
    maxTimeout: options.maxTimeoutMs ?? 900_000,
  };
  const pageSize = options.pageSize ?? 500;
  const maxWaitingClients = options.maxWaitingClients ?? 10_000;
  if (!Number.isSafeInteger(maxWaitingClients) || maxWaitingClients < 0)
    throw ErrInvalidArgument('maxWaitingClients', 'a non-negative integer');
  const limits = connectionLimits(options);
  // The built-in admin's password is in memory anyway (options): compare keyed digests of it in
  // constant time, instead of a PBKDF2 derivation per request.
  const adminKey = randomBytes(32);
  const digest = (password: string) => createHmac('sha256', adminKey).update(password).digest();
  const adminDigest = options.admin ? digest(options.admin.password) : undefined;
  let activeFeeds = 0;
  /** Longpoll, continuous and websocket feeds holding a connection and a waiter (capped). */
  let waitingClients = 0;
  const feeds = new Set<FeedHandle>();
  const sharedTails = m.counter('shared_tails');
  const tails = new SharedTails(() => sharedTails.inc(1));
  const FEEDS = ['normal', 'longpoll', 'continuous', 'websocket'] as const;
  const feedCounters = Object.fromEntries(FEEDS.map((f) => [f, m.counter('feeds', undefined, { feed: f })]));
  const clientGauges = Object.fromEntries(FEEDS.map((f) => [f, m.gauge('clients', undefined, { feed: f })]));
  const activeFeedsGauge = m.gauge('active_feeds');
  const waitingClientsGauge = m.gauge('waiting_clients');
  const app = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks these deadlines on this period (default 30 s): keep it well under them.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
  });
  const connections = guardConnections(app, limits.maxConnections, m, log);

  const sendError = (
    reply: FastifyReply,
    status: number,
    error: string,
    reason: string,
    extra: Record<string, unknown> = {},
  ) => {
    m.counter('http_errors', undefined, { status: String(status) }).inc(1);
    if (status === 401) reply.header('WWW-Authenticate', 'Basic realm="Tributary"');
    return reply
      .code(status)
      .type('application/json')
      .send({ error, reason, ...extra });
  };

  const db = (name: string): ChangesDatabase | undefined =>
    Object.hasOwn(options.databases, name) ? options.databases[name] : undefined;

  async function authenticate(req: FastifyRequest, d: ChangesDatabase): Promise<User | undefined> {
    const creds = parseBasic(req.headers.authorization);
    if (!creds) return undefined;
    if (adminDigest && options.admin && creds.user === options.admin.username) {
      return timingSafeEqual(digest(creds.password), adminDigest)
        ? { name: creds.user, channels: ['*'] }
        : undefined;
    }
    try {
      validateUserName(creds.user);
    } catch {
      return undefined;
    }
    return d.users.authenticate(creds.user, creds.password);
  }

  /** The channels this user may read, narrowed by the request's filter; never one not granted. */
  function visibleChannels(
    user: User,
    d: ChangesDatabase,
    requested: string[] | undefined,
  ): string[] | 'no-all-docs' {
    const isAdmin = user.channels.includes('*');
    if (requested) return isAdmin ? requested : requested.filter((c) => user.channels.includes(c));
    if (isAdmin) return d.index.allDocsChannel === false ? 'no-all-docs' : [d.index.allDocsChannel];
    return user.channels;
  }

  const authHook = async (req: FastifyRequest<{ Params: { db: string } }>, reply: FastifyReply) => {
    const d = db(req.params.db);
    if (!d) return sendError(reply, 404, 'not_found', `no database "${req.params.db}"`);
    if (!req.headers.authorization) return sendError(reply, 401, 'Unauthorized', 'Login required');
    const user = await authenticate(req, d);
    if (!user) return sendError(reply, 401, 'Unauthorized', 'Invalid login');
    (req as unknown as { user: User }).user = user;
  };

  app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  app.setErrorHandler((err, _req, reply) => {
    if (isTributaryError(err, ErrBadParameter.code)) {
      return sendError(reply, 400, 'Bad Request', err.message, {
        parameter: (err.message.match(/"([^"]+)"/) ?? [])[1],
      });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return sendError(reply, status, 'Bad Request', (err as Error).message);
    log.error({ err }, 'request failed');
    return sendError(reply, 500, 'Internal Server Error', (err as Error).message);
  });

  async function runFeed(
    d: ChangesDatabase,
    channels: string[],
    p: FeedParams,
    signal: AbortSignal,
    out: {
      begin(): void;
      /** May return a promise: the client is behind, read no further page until it resolves. */
      entries(list: ChangeEntry[]): void | Promise<void>;
      heartbeat?(): void;
      end(lastSeq: string): void;
    },
  ): Promise<void> {
    const idx = d.index;
    let since = p.since === 'now' ? await idx.currentSince() : (p.since ?? '0');
    let remaining = p.limit ?? Number.POSITIVE_INFINITY;
    const page = async () => {
      const r = await idx.changes({
        channels,
        since,
        limit: Math.min(remaining, pageSize),
        includeDocs: p.includeDocs,
        activeOnly: p.activeOnly,
        signal,
      });
      remaining -= r.results.length;
      return r;
    };
    out.begin();
    if (p.feed === 'normal') {
      for (;;) {
        const asked = Math.min(remaining, pageSize);
        const r = await page();
        await out.entries(r.results);
        const progressed = r.lastSeq !== since;
        since = r.lastSeq;
        if (remaining <= 0 || !progressed || (!p.activeOnly && r.results.length < asked)) break;
      }
      out.end(since);
      return;
    }
    // continuous and websocket
    let hb: NodeJS.Timeout | undefined;
    if (p.heartbeat > 0 && out.heartbeat) hb = setInterval(() => out.heartbeat!(), p.heartbeat);
    try {
      for (;;) {
        const asked = Math.min(remaining, pageSize);
        const r = await page();
        since = r.lastSeq;
        if (r.results.length) await out.entries(r.results);
        if (remaining <= 0) break;
        if (r.results.length < asked) {
          // With a heartbeat the feed stays open until the client goes (CouchDB); else it times out.
          const changed = await idx.waitForChanges({
            channels,
            since,
            timeoutMs: p.heartbeat > 0 ? undefined : p.timeout,
            signal,
          });
          if (!changed) break;
        }
      }
    } finally {
      if (hb) clearInterval(hb);
    }
    out.end(since);
  }

  /**
   * Longpolls asking the same question (database, visible channels, since, limit, active_only)
   * share one wait and one read: one waiter in the index per group instead of one per client, so
   * a write that wakes 1,000 identical longpolls wakes one group, reads once, and encodes once.
   * Each member keeps its own timeout and disconnect; the group stops when its last member goes.
   * (include_docs pages are not shared: each runs alone.)
   */
  interface LongpollGroup {
    key: string;
    groups: Map<string, LongpollGroup>;
    members: number;
    /** Members counted in longpollsWaiting (the group is registered in the index now). */
    waiting: boolean;
    /** Where the group's last read got to: a member that times out answers with it. */
    since: string;
    ac: AbortController;
    result: Promise<ChangesResult>;
  }
  const longpollGroups = new Map<ChangesDatabase, Map<string, LongpollGroup>>();
  let longpollsWaiting = 0;

  function setWaiting(g: LongpollGroup, waiting: boolean): void {
    if (g.waiting === waiting) return;
    g.waiting = waiting;
    longpollsWaiting += waiting ? g.members : -g.members;
  }

  function startGroup(
    d: ChangesDatabase,
    groups: Map<string, LongpollGroup>,
    key: string,
    channels: string[],
    since: string,
    limit: number,
    activeOnly: boolean,
  ): LongpollGroup {
    const g: LongpollGroup = {
      key,
      groups,
      members: 0,
      waiting: false,
      since,
      ac: new AbortController(),
      result: undefined as unknown as Promise<ChangesResult>,
    };
    groups.set(key, g);
    const signal = g.ac.signal;
    g.result = (async () => {
      try {
        for (;;) {
          const r = await d.index.changes({ channels, since: g.since, limit, activeOnly, signal });
          if (r.results.length > 0) return r;
          g.since = r.lastSeq;
          setWaiting(g, true);
          // No timeout of its own: members time out one by one, the last one to go stops it.
          await d.index.waitForChanges({ channels, since: g.since, signal });
          setWaiting(g, false);
        }
      } finally {
        setWaiting(g, false);
        // Answered (or stopped): later arrivals start a new group.
        if (groups.get(key) === g) groups.delete(key);
      }
    })();
    g.result.catch(() => {}); // members see it; a group stopped for want of members has none
    return g;
  }

  /** One member's wait on its group: the group's answer, or an empty one at its own deadline. */
  function awaitGroup(g: LongpollGroup, timeoutMs: number, signal: AbortSignal): Promise<ChangesResult> {
    g.members++;
    if (g.waiting) longpollsWaiting++;
    return new Promise<ChangesResult>((resolve, reject) => {
      let done = false;
      const finish = () => {
        if (done) return false;
        done = true;
        clearTimeout(timer);
        // (the abort listener stays: the signal is this one request's, which ends with this answer,
        // and removing a listener from an EventTarget was 3-4% of the server's CPU from a write to
        // the last of 1,000 answers)
        g.members--;
        if (g.waiting) longpollsWaiting--;
        if (g.members === 0) {
          // (out of the map first: nobody may join a group that is stopping)
          if (g.groups.get(g.key) === g) g.groups.delete(g.key);
          g.ac.abort();
        }
        return true;
      };
      const timer = setTimeout(() => {
        const since = g.since;
        if (finish()) resolve({ results: [], lastSeq: since });
      }, timeoutMs);
      const onAbort = () => {
        if (finish()) reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      g.result.then(
        (r) => {
          if (finish()) resolve(r);
        },
        (err) => {
          if (finish()) reject(err);
        },
      );
    });
  }

  /**
   * A longpoll's answer: the first page with entries after `since`, or none when the timeout
   * passes first (last_seq then where the last read got to).
   */
  async function longpoll(
    d: ChangesDatabase,
    channels: string[],
    p: FeedParams,
    signal: AbortSignal,
  ): Promise<ChangesResult> {
    const idx = d.index;
    const since = p.since === 'now' ? await idx.currentSince() : (p.since ?? '0');
    const limit = Math.min(p.limit ?? Number.POSITIVE_INFINITY, pageSize);
    if (p.includeDocs) return longpollAlone(d, channels, p, since, limit, signal);
    let groups = longpollGroups.get(d);
    if (!groups) longpollGroups.set(d, (groups = new Map()));
    // (channel names never hold NUL: validated)
    const key = `${since}\u0000${limit}\u0000${p.activeOnly ? 1 : 0}\u0000${channels.join('\u0000')}`;
    const g = groups.get(key) ?? startGroup(d, groups, key, channels, since, limit, p.activeOnly);
    return awaitGroup(g, p.timeout, signal);
  }

  /** A longpoll that waits on its own (include_docs: each answer carries its own documents). */
  async function longpollAlone(
    d: ChangesDatabase,
    channels: string[],
    p: FeedParams,
    from: string,
    limit: number,
    signal: AbortSignal,
  ): Promise<ChangesResult> {
    const idx = d.index;
    let since = from;
    const deadline = Date.now() + p.timeout;
    for (;;) {
      const r = await idx.changes({
        channels,
        since,
        limit,
        includeDocs: p.includeDocs,
        activeOnly: p.activeOnly,
        signal,
      });
      if (r.results.length > 0) return r;
      since = r.lastSeq;
      const left = deadline - Date.now();
      if (left <= 0 || !(await idx.waitForChanges({ channels, since, timeoutMs: left, signal })))
        return { results: [], lastSeq: since };
    }
  }

  /** Admits one more waiting feed, or returns the refusal when the cap is reached. */
  function admitWaiting(): ReturnType<typeof ErrTooManyWaitingClients> | undefined {
    if (waitingClients < maxWaitingClients) return undefined;
    m.counter('refused_too_many_clients').inc(1);
    const err = ErrTooManyWaitingClients(maxWaitingClients);
    log.warn({ code: err.code, waitingClients }, 'waiting _changes client refused');
    return err;
  }

  function trackFeed(res: ServerResponse | WebSocket, type: Feed): FeedHandle {
    const ac = new AbortController();
    const waiting = type !== 'normal';
    let open = true;
    activeFeeds++;
    activeFeedsGauge.set(activeFeeds);
    clientGauges[type]!.inc();
    if (waiting) {
      waitingClients++;
      waitingClientsGauge.set(waitingClients);
    }
    const feed: FeedHandle = {
      signal: ac.signal,
      release() {
        if (!open) return;
        open = false;
        feeds.delete(feed);
        activeFeeds--;
        activeFeedsGauge.set(activeFeeds);
        clientGauges[type]!.dec();
        if (waiting) {
          waitingClients--;
          waitingClientsGauge.set(waitingClients);
        }
      },
      abort() {
        if (!open) return;
        feed.release();
        ac.abort();
      },
    };
    feeds.add(feed);
    // 'close' also follows every answered request: by then the feed is released and this is a no-op.
    (res as ServerResponse).on('close', feed.abort);
    return feed;
  }

  const changesHandler = async (req: FastifyRequest<{ Params: { db: string } }>, reply: FastifyReply) => {
    const d = db(req.params.db)!;
    const user = (req as unknown as { user: User }).user;
    const body =
      req.method === 'POST' && req.body && typeof req.body === 'object'
        ? (req.body as Record<string, unknown>)
        : {};
    const p = parseParams({ ...(req.query as Record<string, unknown>), ...body }, defaults);
    if (p.feed === 'websocket') bad('feed', 'websocket needs a WebSocket upgrade request');
    const channels = visibleChannels(user, d, p.channels);
    if (channels === 'no-all-docs')
      bad('filter', 'this index has no all-docs channel; give filter=sync_gateway/bychannel');
    const waiting = p.feed !== 'normal';
    if (waiting) {
      const refused = admitWaiting();
      if (refused) {
        reply.header('Retry-After', '1');
        return sendError(reply, 503, 'Service Unavailable', refused.message, { code: refused.code });
      }
    }
    feedCounters[p.feed]!.inc(1);
    reply.hijack();
    const res = reply.raw as ServerResponse;
    const feed = trackFeed(res, p.feed);
    const signal = feed.signal;
    const write = (s: string) => {
      if (!res.destroyed) res.write(s);
    };
    /** Entries are written with back-pressure: a slow reader stalls its feed, never buffers the index. */
    const writeEntries = (s: string): undefined | Promise<void> => {
      if (res.destroyed || res.write(s)) return undefined;
      m.counter('feed_stalls').inc(1);
      return once(res, 'drain', { signal }).then(
        () => undefined,
        () => undefined, // aborted: the client went away; the feed ends on its next read
      );
    };
    let first = true;
    try {
      if (p.feed === 'longpoll') {
        // As Sync Gateway: headers and the head of the body at once, the rest when answered, in
        // one write (every reader woken by the same write with the same answer shares its bytes).
        res.writeHead(200, FEED_HEADERS);
        res.write(RESULTS_HEAD);
        const r = await longpoll(d, channels, p, signal);
        const tail = tails.tail(`${r.lastSeq}\u0000${channels.join('\u0000')}`, r.results, r.lastSeq);
        if (!res.destroyed) res.end(tail);
      } else if (p.feed === 'continuous') {
        await runFeed(d, channels, p, signal, {
          begin: () => {
            res.writeHead(200, FEED_HEADERS);
            res.flushHeaders();
          },
          entries: (list) => writeEntries(list.map((e) => `${entryJson(e)}\n`).join('')),
          heartbeat: () => write('\n'),
          end: (lastSeq) => write(`${JSON.stringify({ last_seq: lastSeq })}\n`),
        });
      } else {
        await runFeed(d, channels, p, signal, {
          begin: () => {
            res.writeHead(200, FEED_HEADERS);
            write(RESULTS_HEAD);
          },
          entries: (list) => {
            let text = '';
            for (const e of list) {
              text += `${first ? '' : ',\n'}${entryJson(e)}`;
              first = false;
            }
            return writeEntries(text);
          },
          end: (lastSeq) => write(`${first ? '' : '\n'}],\n"last_seq":${JSON.stringify(lastSeq)}}\n`),
        });
      }
      if (!res.writableEnded) res.end();
    } catch (err) {
      if (!signal.aborted) {
        log.warn({ err }, 'feed failed');
        m.counter('feed_errors').inc(1);
      }
      res.destroy();
    } finally {
      feed.release();
    }
  };

  const wsHandler = (socket: WebSocket, req: FastifyRequest<{ Params: { db: string } }>) => {
    const d = db(req.params.db)!;
    const user = (req as unknown as { user: User }).user;
    // Counted from the upgrade on: the options come later, but the socket is held from now.
    const refused = admitWaiting();
    if (refused) {
      socket.send(
        JSON.stringify({ error: 'Service Unavailable', reason: refused.message, code: refused.code }),
      );
      socket.close(1013, 'too many waiting clients'); // 1013: Try Again Later
      return;
    }
    const feed = trackFeed(socket, 'websocket');
    feedCounters.websocket!.inc(1);
    const fail = (status: number, reason: string, parameter?: string) => {
      socket.send(
        JSON.stringify({
          error: status === 400 ? 'Bad Request' : 'Error',
          reason,
          ...(parameter ? { parameter } : {}),
        }),
      );
      socket.close(status === 400 ? 1008 : 1011);
    };
    // A client that upgrades and never sends its options would hold a feed slot for good: it gets
    // as long as a whole HTTP request may take (requestTimeoutMs), then the socket closes.
    const optionsTimer = setTimeout(() => {
      m.counter('feed_options_timeouts').inc(1);
      fail(400, `no feed options within ${limits.requestTimeoutMs} ms`, 'body');
    }, limits.requestTimeoutMs);
    socket.once('close', () => clearTimeout(optionsTimer));
    // As Sync Gateway: the client's first message carries the feed options (JSON); query params too.
    socket.once('message', (data: Buffer) => {
      clearTimeout(optionsTimer);
      let raw: Record<string, unknown> = {};
      try {
        const text = data.toString('utf8').trim();
        if (text) raw = JSON.parse(text);
        if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not an object');
      } catch {
        return fail(400, 'first message must be a JSON object of feed options', 'body');
      }
      let p: FeedParams;
      try {
        p = parseParams({ ...(req.query as Record<string, unknown>), ...raw }, defaults, 'websocket');
      } catch (err) {
        const msg = (err as Error).message;
        return fail(400, msg, (msg.match(/"([^"]+)"/) ?? [])[1]);
      }
      const channels = visibleChannels(user, d, p.channels);
      if (channels === 'no-all-docs') return fail(400, 'this index has no all-docs channel', 'filter');
      runFeed(d, channels, p, feed.signal, {
        begin: () => {},
        entries: (list) => {
          if (socket.readyState !== socket.OPEN) return;
          const batch = `[${list.map(entryJson).join(',')}]`;
          if (socket.bufferedAmount < WS_HIGH_WATER) {
            socket.send(batch);
            return;
          }
          // The client is behind: wait until this batch is handed to the socket before reading on.
          m.counter('feed_stalls').inc(1);
          return new Promise<void>((resolve) => socket.send(batch, () => resolve()));
        },
        heartbeat: () => {
          if (socket.readyState === socket.OPEN) socket.ping();
        },
        end: (lastSeq) => {
          if (socket.readyState === socket.OPEN) {
            socket.send(JSON.stringify({ last_seq: lastSeq }));
            socket.close(1000);
          }
        },
      }).catch((err) => {
        if (!feed.signal.aborted) {
          log.warn({ err }, 'websocket feed failed');
          m.counter('feed_errors').inc(1);
          fail(500, (err as Error).message);
        }
      });
    });
  };

  app.register(async (scope) => {
    scope.route<{ Params: { db: string } }>({
      method: 'GET',
      url: '/:db/_changes',
      preValidation: authHook,
      handler: changesHandler,
      wsHandler,
    });
    scope.post<{ Params: { db: string } }>('/:db/_changes', { preValidation: authHook }, changesHandler);

    scope.get<{ Params: { db: string } }>('/:db/', { preValidation: authHook }, async (req) => {
      const d = db(req.params.db)!;
      return { db_name: req.params.db, update_seq: await d.index.currentSince(), state: 'Online' };
    });

    const requireAdmin = async (req: FastifyRequest, reply: FastifyReply) => {
      const user = (req as unknown as { user?: User }).user;
      if (!user?.channels.includes('*')) return sendError(reply, 403, 'Forbidden', 'admin access required');
    };
    scope.get<{ Params: { db: string } }>(
      '/:db/_user/',
      { preValidation: authHook, preHandler: requireAdmin },
      async (req) => db(req.params.db)!.users.list(),
    );
    scope.get<{ Params: { db: string; name: string } }>(
      '/:db/_user/:name',
      { preValidation: authHook, preHandler: requireAdmin },
      async (req, reply) => {
        const u = await db(req.params.db)!.users.get(req.params.name);
        if (!u) return sendError(reply, 404, 'not_found', `no user "${req.params.name}"`);
        return { name: u.name, admin_channels: u.channels, all_channels: u.channels };
      },
    );
    scope.put<{ Params: { db: string; name: string } }>(
      '/:db/_user/:name',
      { preValidation: authHook, preHandler: requireAdmin },
      async (req, reply) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        if (typeof b !== 'object' || Array.isArray(b)) bad('body', 'must be a JSON object');
        if (b.password !== undefined && typeof b.password !== 'string') bad('password', 'must be a string');
        const chans = b.admin_channels ?? b.channels;
        if (chans !== undefined && (!Array.isArray(chans) || chans.some((c) => typeof c !== 'string')))
          bad('admin_channels', 'must be an array of channel names');
        try {
          validateUserName(req.params.name);
        } catch (err) {
          bad('name', (err as Error).message);
        }
        try {
          const { created } = await db(req.params.db)!.users.put(req.params.name, {
            password: b.password as string | undefined,
            channels: chans as string[] | undefined,
          });
          return reply.code(created ? 201 : 200).send({ ok: true });
        } catch (err) {
          if (isTributaryError(err, 'TRIB_INVALID_ARGUMENT'))
            bad(String(err.message.match(/"([^"]+)"/)?.[1] ?? 'body'), err.message);
          if (isTributaryError(err, 'TRIB_CHANNEL_INDEX_BAD_CHANNEL')) bad('admin_channels', err.message);
          throw err;
        }
      },
    );
    scope.delete<{ Params: { db: string; name: string } }>(
      '/:db/_user/:name',
      { preValidation: authHook, preHandler: requireAdmin },
      async (req, reply) => {
        try {
          await db(req.params.db)!.users.delete(req.params.name);
        } catch (err) {
          if (isTributaryError(err, 'TRIB_CHANGES_UNKNOWN_USER'))
            return sendError(reply, 404, 'not_found', err.message);
          throw err;
        }
        return { ok: true };
      },
    );
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    async listen(o = {}) {
      await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      return { url: `http://${o.host ?? '127.0.0.1'}:${port}`, port };
    },
    stats() {
      return {
        activeFeeds,
        waitingClients,
        longpollsWaiting,
        connections: connections.open,
        counters: m.snapshot().counters,
      };
    },
    close() {
      if (!closing) {
        closing = (async () => {
          for (const f of [...feeds]) f.abort();
          connections.destroyRefused();
          await app.close();
        })();
      }
      return closing;
    },
  };
}

/** Bytes a websocket feed may have queued before it waits for the client. */
const WS_HIGH_WATER = 1024 * 1024;

/** Connections answered 503 at once beyond maxConnections; past these Node drops them unanswered. */
const REFUSAL_SLOTS = 256;

interface ConnectionLimits {
  maxConnections: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

function connectionLimits(o: ChangesServerOptions): ConnectionLimits {
  const l: ConnectionLimits = {
    maxConnections: o.maxConnections ?? 16_384,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? 72_000,
    headersTimeoutMs: o.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: o.requestTimeoutMs ?? Math.max(30_000, o.headersTimeoutMs ?? 0),
  };
  for (const [name, v] of Object.entries(l))
    if (!Number.isSafeInteger(v) || v < 1) throw ErrInvalidArgument(name, 'a positive integer');
  if (l.requestTimeoutMs < l.headersTimeoutMs)
    throw ErrInvalidArgument('requestTimeoutMs', 'at least headersTimeoutMs');
  return l;
}

/**
 * Caps the connections the server holds. Past `max`, or past the process's file-descriptor limit
 * (the connection slots every listener of the process shares, so an accept never fails with
 * EMFILE, which resets clients unanswered), a connection is still accepted but its first request
 * is answered 503 (Connection: close) before any routing or authentication; at most REFUSAL_SLOTS
 * such refusals are pending at once (and no more than the process keeps for them), past those the
 * socket is closed unanswered (cheapest under a flood). Refusals are counted and logged once per
 * window with a count. Timeouts and client errors are counted.
 */
function guardConnections(
  app: FastifyInstance,
  max: number,
  m: MetricsGroup,
  log: Logger,
): { readonly open: number; destroyRefused(): void } {
  /** Sockets accepted past the cap, waiting for their 503 (at most REFUSAL_SLOTS: Node drops more). */
  const refused = new Set<Socket>();
  const state = { open: 0 };
  const gauge = m.gauge('connections');
  const refusedCounter = m.counter('refused_too_many_connections');
  const slots = connectionSlots();
  // A flood must not flood the log as well: one line, then one with the count per window.
  const repeats = new RepeatLog(log);
  const warn = (how: string) =>
    repeats.note(
      'warn',
      how,
      { code: ErrTooManyConnections.code, open: state.open, max, fdLimit: slots.fdLimit, how },
      'connection refused',
    );
  const server = app.server;
  server.maxConnections = max + REFUSAL_SLOTS;
  server.on('drop', () => {
    refusedCounter.inc(1);
    warn('dropped');
  });
  server.on('connection', (socket: Socket) => {
    // Over our own cap: Node's maxConnections bounds the refusals. Over the process's fd slots:
    // the refusals the process keeps for every listener do.
    const overCap = state.open >= max;
    if (overCap || !slots.tryTake()) {
      const refusal = !overCap && slots.refusals.tryTake();
      if (!overCap && !refusal) {
        refusedCounter.inc(1);
        warn('dropped');
        socket.destroy();
        return;
      }
      refused.add(socket);
      socket.once('close', () => {
        refused.delete(socket);
        if (refusal) slots.refusals.give();
      });
      refusedCounter.inc(1);
      warn(overCap ? '503' : '503 (file-descriptor limit)');
      return;
    }
    state.open++;
    gauge.set(state.open);
    socket.once('close', () => {
      state.open--;
      slots.give();
      gauge.set(state.open);
    });
  });
  // Node closes an idle keep-alive socket on 'timeout' only when nobody listens: count, then close.
  server.on('timeout', (socket: Socket) => {
    m.counter('idle_timeouts').inc(1);
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException) => {
    m.counter(err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeouts' : 'client_errors').inc(1);
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!refused.has(req.raw.socket)) return;
    const err = ErrTooManyConnections(max);
    m.counter('http_errors', undefined, { status: '503' }).inc(1);
    // An upgrade request's socket is no longer Node's to close after the answer: close it here.
    reply.raw.once('finish', () => req.raw.socket.destroySoon());
    return reply
      .code(503)
      .header('connection', 'close')
      .header('retry-after', '1')
      .type('application/json')
      .send({ error: 'Service Unavailable', reason: err.message, code: err.code });
  });
  return {
    get open() {
      return state.open;
    },
    destroyRefused() {
      for (const s of refused) s.destroy();
      repeats.flush();
    },
  };
}
