// An HTTP server that holds up on the open internet: header, request, keep-alive and idle timeouts
// (a slowloris client trickling headers is closed at the header deadline), a connection cap that
// also respects the process's file-descriptor limit (the next connection is answered 503, never
// reset unanswered), client errors answered with a 4xx and counted, a handler that throws answered
// 500 instead of killing the process, and every repeated event logged once with a count.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { MetricsScope } from './contracts/metrics.js';
import { ErrHttpHandlerFailed, ErrHttpTooManyConnections, ErrInvalidArgument } from './errors.js';
import { connectionSlots } from './fd-limit.js';
import { silentLogger } from './logger.js';
import { nullMetrics } from './null-metrics.js';
import { RepeatLog } from './repeat-log.js';

export interface HttpGuardOptions {
  /**
   * Connections held at once (default 1024). Never more than the process's file-descriptor limit
   * allows: every guarded listener takes its connections from the shared `connectionSlots()`.
   * Past either, a connection is answered 503 (`Connection: close`) and counted.
   */
  maxConnections?: number;
  /** The request's headers must arrive this soon after the connection or the last response (default 10,000 ms), else 408. */
  headersTimeoutMs?: number;
  /** ... and the whole request, body included (default 30,000 ms; at least headersTimeoutMs). */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed this long after its last response (default 5,000 ms). */
  keepAliveTimeoutMs?: number;
  /**
   * A connection with no bytes moving either way this long is closed (default 60,000 ms), so a
   * client that stops reading a response is dropped. Long-lived responses opt out (`longLived`).
   */
  idleTimeoutMs?: number;
  log?: Logger;
  /** Where the counters go (`connections` gauge; `connections_refused`, `connections_dropped`, `idle_timeouts`, `request_timeouts`, `client_errors`, `handler_errors`). */
  metrics?: MetricsScope;
}

export interface HttpGuard {
  /** Connections held now (not counting those being refused). */
  readonly open: number;
  /** The cap in force: maxConnections, or less when the fd limit is lower. */
  readonly maxConnections: number;
  /** Repeated events of this listener, logged once per window with a count. */
  readonly repeats: RepeatLog;
  /** Marks a response that stays open (a stream): its connection gets no idle timeout. */
  longLived(res: http.ServerResponse): void;
  /** Closes the connections waiting for their 503 and logs pending repeat counts. */
  close(): void;
}

/** How long a refused connection may take to send the request its 503 answers. */
const REFUSED_GRACE_MS = 2000;

const CLIENT_ERROR_ANSWERS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
};

function positive(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw ErrInvalidArgument(name, `a positive integer, got ${v}`);
  return v;
}

/**
 * Creates an HTTP server guarded as described above, calling `handler` for every request that is
 * not refused. Listen on it as usual (`server.listen`), or hand it accepted sockets
 * (`server.emit('connection', socket)`): both are guarded.
 */
export function createGuardedHttpServer(
  options: HttpGuardOptions,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): { server: http.Server; guard: HttpGuard } {
  const log = options.log ?? silentLogger;
  const m = options.metrics ?? nullMetrics();
  const headersTimeout = positive('headersTimeoutMs', options.headersTimeoutMs ?? 10_000);
  const requestTimeout = positive(
    'requestTimeoutMs',
    options.requestTimeoutMs ?? Math.max(30_000, headersTimeout),
  );
  if (requestTimeout < headersTimeout)
    throw ErrInvalidArgument('requestTimeoutMs', 'at least headersTimeoutMs');
  const keepAliveTimeout = positive('keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? 5000);
  const idleTimeout = positive('idleTimeoutMs', options.idleTimeoutMs ?? 60_000);
  const slots = connectionSlots();
  const max = Math.min(positive('maxConnections', options.maxConnections ?? 1024), slots.capacity);
  const tooMany = ErrHttpTooManyConnections(max);
  const refuseBody = JSON.stringify({
    error: 'Service Unavailable',
    reason: tooMany.message,
    code: tooMany.code,
  });
  const repeats = new RepeatLog(log);
  const gauge = m.gauge('connections', 'Connections held by this listener');
  const refusedCount = m.counter('connections_refused', 'Connections answered 503 at the connection cap');
  const droppedCount = m.counter(
    'connections_dropped',
    'Connections closed unanswered: no slot even for a 503',
  );
  const idleTimeouts = m.counter('idle_timeouts', 'Connections closed after idleTimeoutMs without traffic');
  const requestTimeouts = m.counter(
    'request_timeouts',
    'Requests not received within the header/request timeout (408)',
  );
  const clientErrors = m.counter('client_errors', 'Unparseable requests answered 4xx');
  const handlerErrors = m.counter('handler_errors', 'Requests whose handler threw (answered 500)');
  /** Sockets accepted past the cap, each holding a refusal slot until it closes. */
  const refused = new Set<Socket>();
  let open = 0;

  const server = http.createServer(
    {
      headersTimeout,
      requestTimeout,
      keepAliveTimeout,
      // Node checks the header and request deadlines on this period (default 30 s): keep it well under them.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      if (refused.has(req.socket)) return refuse(req, res);
      try {
        handler(req, res);
      } catch (err) {
        handlerErrors.inc();
        const e = err as { code?: unknown; name?: unknown };
        repeats.note('error', `handler:${String(e?.code ?? e?.name)}`, { err }, 'request handler failed');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
          const failed = ErrHttpHandlerFailed();
          res.end(
            JSON.stringify({ error: 'Internal Server Error', reason: failed.message, code: failed.code }),
          );
        } else res.destroy();
      }
    },
  );
  server.keepAliveTimeout = keepAliveTimeout;
  server.timeout = idleTimeout;

  function refuse(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume(); // read what it sends: closing on unread bytes would be a reset, not an answer
    res.writeHead(503, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(refuseBody),
      connection: 'close',
      'retry-after': '1',
    });
    res.end(refuseBody);
  }

  server.on('connection', (socket: Socket) => {
    if (open >= max || !slots.tryTake()) {
      if (!slots.refusals.tryTake()) {
        droppedCount.inc();
        repeats.note(
          'warn',
          'dropped',
          { open, max, fdLimit: slots.fdLimit, processConnections: slots.held },
          'connection closed unanswered: no slot left even to answer 503',
        );
        socket.destroy();
        return;
      }
      refused.add(socket);
      refusedCount.inc();
      repeats.note(
        'warn',
        'refused',
        { open, max, fdLimit: slots.fdLimit, processConnections: slots.held },
        'connection refused with 503: at the connection cap',
      );
      socket.setTimeout(REFUSED_GRACE_MS);
      socket.once('close', () => {
        refused.delete(socket);
        slots.refusals.give();
      });
      return;
    }
    open++;
    gauge.set(open);
    socket.once('close', () => {
      open--;
      slots.give();
      gauge.set(open);
    });
  });

  // With a listener here Node leaves timed-out sockets to us: count, then close.
  server.on('timeout', (socket: Socket) => {
    if (!refused.has(socket)) idleTimeouts.inc();
    socket.destroy();
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? 'unknown';
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') requestTimeouts.inc();
    else if (code !== 'ECONNRESET') clientErrors.inc();
    if (code !== 'ECONNRESET')
      repeats.note('info', `clientError:${code}`, { code }, 'bad or late request from a client');
    // As Node does without a listener: answer only if nothing was written yet, then close (a
    // half-close would leave a client that keeps sending connected).
    if (code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const status = CLIENT_ERROR_ANSWERS[code] ?? '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroySoon();
  });

  return {
    server,
    guard: {
      get open() {
        return open;
      },
      maxConnections: max,
      repeats,
      longLived(res) {
        res.socket?.setTimeout(0);
      },
      close() {
        for (const s of refused) s.destroy();
        repeats.flush();
      },
    },
  };
}
