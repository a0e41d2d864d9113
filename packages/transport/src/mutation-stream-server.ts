import { EventEmitter } from 'node:events';
import { ErrBadFrame } from '@tributary/codec';
import {
  type AuthProvider,
  type Connection,
  type ConnectionFactory,
  type CredentialSource,
  componentLogger,
  type Endpoint,
  isTributaryError,
  type Listener,
  type Logger,
  type TributaryError,
} from '@tributary/core';
import { createMetrics, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import {
  ErrMutationGap,
  ErrMutationStreamBadFrame,
  ErrMutationStreamClosed,
  ErrMutationStreamConnectionLost,
  ErrMutationStreamHandshake,
  ErrVbucketNotBegun,
  isPeerViolation,
} from './errors.js';
import {
  ackType,
  byeType,
  ControlOp,
  controlType,
  decodeControl,
  MSTREAM_VERSION,
  type MutationScratch,
  mutationType,
  nackType,
  readMutation,
  vbuuidWords,
} from './internal/mutation-wire.js';
import type { Mutation, MutationBatch, MutationStreamEvent } from './mutation.js';
import { createTransport, type Incoming, type Transport, type TransportSettings } from './transport.js';

/** The mutation stream sends only posts: a request or stream open carrying its messages is malformed. */
function onlyPost<T>(incoming: Incoming, message: T): T {
  if (incoming.kind !== 'post')
    throw ErrBadFrame(`mutation stream message ${incoming.messageId} sent as a ${incoming.kind}`);
  return message;
}

export interface MutationStreamServerOptions {
  /** Where to listen (port 0 picks one; see `address()`). */
  listen: Endpoint;
  factory: ConnectionFactory;
  /** Require clients to authenticate through this provider against these credentials. */
  auth?: { provider: AuthProvider; credentials: CredentialSource };
  /** Transport settings for accepted connections. */
  settings?: Partial<TransportSettings>;
  /** Events held for the application before connections stop being read. Default 1024. */
  maxQueuedEvents?: number;
  handshakeTimeoutMs?: number;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

interface VbState {
  begun: boolean;
  vbuuid: bigint;
  /** The vbuuid's two 32-bit words: a mutation whose words match reuses the bigint above. */
  vbHi: number;
  vbLo: number;
  /** Highest seqno delivered (or the begin seqno). */
  hw: number;
  beginSeqno: number;
  snapStart: number;
}

interface Conn {
  id: number;
  transport: Transport;
  remote: string;
  /** Events of this connection still in the application queue. */
  queued: number;
  /** Highest msn received (delivered, duplicate or refused). */
  received: number;
  ackTo: number;
  acked: number;
  ackScheduled: boolean;
  bye: boolean;
  /** Handshake done: failures before it are published by the handshake path, after it here. */
  ready: boolean;
  /** Batches per vbucket of the read chunk being processed. */
  current: Map<number, MutationBatch> | undefined;
  currentMsn: number;
}

/** Events pushed together; the client hears "acked up to msn" when the last of them is taken. */
interface Group {
  remaining: number;
  msn: number;
}

interface Queued {
  event: MutationStreamEvent;
  conn: Conn | undefined;
  group: Group | undefined;
}

export interface MutationStreamServerStats {
  connections: number;
  mutationsDelivered: number;
  batchesDelivered: number;
  duplicates: number;
  errors: number;
  malformedFrames: number;
  queued: number;
}

/**
 * Receives mutation streams. The async iterator is the primary API (`for await (const ev of
 * server)`); `toEventEmitter()` is a thin adapter over it. A mutation counts as acknowledged to
 * the client when the iterator has handed its batch to the application.
 */
export class MutationStreamServer implements AsyncIterable<MutationStreamEvent> {
  #opts: MutationStreamServerOptions;
  #log: Logger;
  #m: MetricsGroup;
  #c: Record<string, { inc(n?: number): void; value: number }>;
  #listener: Listener | undefined;
  #conns = new Set<Conn>();
  #nextConnId = 1;
  #vbs = new Map<number, VbState>();
  readonly #scratch: MutationScratch = { msn: 0, prevSeqno: 0 };
  #queue: Queued[] = [];
  #qHead = 0;
  #wakeup: (() => void) | undefined;
  #paused = false;
  #closed = false;
  #iterating = false;
  readonly #maxQueued: number;

  constructor(opts: MutationStreamServerOptions) {
    this.#opts = opts;
    this.#maxQueued = opts.maxQueuedEvents ?? 1024;
    this.#log = componentLogger(opts.logger, 'mutation-stream-server');
    this.#m = (opts.metrics ?? createMetrics()).group('mutation-stream-server');
    this.#c = {};
    for (const [k, name, help] of [
      ['connections', 'connections_accepted', 'Client connections accepted'],
      ['mutationsDelivered', 'mutations_delivered', 'Mutations delivered to the application'],
      ['batchesDelivered', 'batches_delivered', 'Batches delivered to the application'],
      ['duplicates', 'duplicates', 'Mutations received again (after a client reconnect) and dropped'],
      ['errors', 'errors', 'Errors published to the application'],
      ['malformedFrames', 'malformed_frames', 'Malformed frames (each closed its connection)'],
    ] as const)
      this.#c[k] = this.#m.counter(name, help);
  }

  /** Starts listening; resolves with the bound endpoint. */
  async start(): Promise<Endpoint> {
    if (this.#closed) throw ErrMutationStreamClosed('server');
    if (!this.#listener)
      this.#listener = await this.#opts.factory.listen(this.#opts.listen, (c) => this.#accept(c));
    return this.#listener.address();
  }

  address(): Endpoint {
    if (!this.#listener) throw ErrMutationStreamClosed('server (not started)');
    return this.#listener.address();
  }

  #accept(connection: Connection): void {
    if (this.#closed) {
      connection.destroy();
      return;
    }
    const remote = `${connection.remoteAddress}:${connection.remotePort}`;
    const t = createTransport(connection, {
      name: `mstream-server#${this.#nextConnId}`,
      version: MSTREAM_VERSION,
      settings: this.#opts.settings,
      auth: this.#opts.auth ? { role: 'server', ...this.#opts.auth } : undefined,
      handshakeTimeoutMs: this.#opts.handshakeTimeoutMs,
      logger: this.#opts.logger,
      metrics: this.#opts.metrics,
    });
    const conn: Conn = {
      id: this.#nextConnId++,
      transport: t,
      remote,
      queued: 0,
      received: 0,
      ackTo: 0,
      acked: 0,
      ackScheduled: false,
      bye: false,
      ready: false,
      current: undefined,
      currentMsn: 0,
    };
    t.subscribe(mutationType, (p, inc) => this.#guard(conn, () => this.#onMutation(conn, onlyPost(inc, p))));
    t.subscribe(controlType, (p, inc) => this.#guard(conn, () => this.#onControl(conn, onlyPost(inc, p))));
    t.subscribe(byeType, () => {
      conn.bye = true;
    });
    t.subscribe(ackType);
    t.subscribe(nackType);
    this.#conns.add(conn);
    this.#c.connections.inc();
    if (this.#paused) t.pause();
    t.closed.then((err) => {
      this.#finishBatch(conn);
      this.#conns.delete(conn);
      if (err === undefined || conn.bye || this.#closed || !conn.ready) return;
      if (isPeerViolation(err)) {
        this.#c.malformedFrames.inc();
        this.#publishError(ErrMutationStreamBadFrame(remote, err.message, { cause: err }), undefined, remote);
      } else {
        this.#publishError(
          ErrMutationStreamConnectionLost(remote, err.message, { cause: err }),
          undefined,
          remote,
        );
      }
    });
    t.handshake().then(
      () => {
        conn.ready = true;
        this.#log.debug({ remote, user: t.peerUser }, 'mutation stream connection ready');
      },
      (err: TributaryError) => {
        if (this.#closed) return;
        this.#log.warn({ err, remote }, 'mutation stream handshake failed');
        if (/^TRIB_(BAD_|FRAME_TOO_LARGE)/.test(err.code)) {
          this.#c.malformedFrames.inc();
          this.#publishError(
            ErrMutationStreamBadFrame(remote, err.message, { cause: err }),
            undefined,
            remote,
          );
        } else
          this.#publishError(
            ErrMutationStreamHandshake(remote, err.message, { cause: err }),
            undefined,
            remote,
          );
      },
    );
  }

  /** A malformed message inside a well-formed frame: close that connection, log and count. */
  #guard(conn: Conn, f: () => void): void {
    try {
      f();
    } catch (err) {
      if (isTributaryError(err) && err.code.startsWith('TRIB_BAD')) {
        this.#log.error(
          { err, remote: conn.remote },
          'malformed mutation stream message, closing the connection',
        );
        conn.transport.destroy(err);
        return;
      }
      // A bug of ours, not the peer's: publish it rather than lose it, and drop the connection so
      // the client resends from its last acknowledged message.
      const e = isTributaryError(err)
        ? err
        : ErrMutationStreamConnectionLost(conn.remote, String((err as Error)?.message ?? err), {
            cause: err,
          });
      this.#log.error({ err, remote: conn.remote }, 'mutation stream handler failed, closing the connection');
      this.#publishError(e, undefined, conn.remote);
      conn.transport.destroy(e);
    }
  }

  #state(vb: number): VbState | undefined {
    return this.#vbs.get(vb);
  }

  #onMutation(conn: Conn, payload: Buffer): void {
    const st0 = payload.length >= 10 ? this.#vbs.get(payload.readUInt16BE(8)) : undefined;
    const scratch = this.#scratch;
    const m = readMutation(payload, scratch, st0);
    const msn = scratch.msn;
    const prevSeqno = scratch.prevSeqno;
    if (msn > conn.received) conn.received = msn;
    const st = st0;
    if (st && st.vbuuid === m.vbuuid && m.seqno <= st.hw) {
      this.#duplicate(conn);
      return;
    }
    if (!st?.begun || st.vbuuid !== m.vbuuid) {
      this.#refuse(conn, msn, m.vbucket, ErrVbucketNotBegun(m.vbucket));
      return;
    }
    if (prevSeqno !== st.hw) {
      this.#refuse(
        conn,
        msn,
        m.vbucket,
        ErrMutationGap(m.vbucket, st.hw, prevSeqno, { details: { seqno: m.seqno } }),
      );
      return;
    }
    st.hw = m.seqno;
    let group = conn.current;
    if (group === undefined) {
      group = conn.current = new Map();
      // The transport hands over a whole read chunk synchronously; publish its batches after it.
      queueMicrotask(() => this.#finishBatch(conn));
    }
    const b = group.get(m.vbucket);
    if (b !== undefined) b.mutations.push(m);
    else group.set(m.vbucket, { type: 'batch', vbucket: m.vbucket, mutations: [m] });
    conn.currentMsn = msn;
  }

  /** Publishes the chunk's batches (one per vbucket, each in seqno order). */
  #finishBatch(conn: Conn): void {
    const batches = conn.current;
    if (batches === undefined) return;
    conn.current = undefined;
    const g: Group = { remaining: batches.size, msn: conn.currentMsn };
    for (const b of batches.values()) this.#push({ event: b, conn, group: g });
  }

  #onControl(conn: Conn, payload: Buffer): void {
    const c = decodeControl(payload);
    if (c.msn > conn.received) conn.received = c.msn;
    this.#finishBatch(conn);
    const st = this.#state(c.vbucket);
    if (c.op === ControlOp.Begin) {
      if (st?.begun && st.vbuuid === c.vbuuid && st.beginSeqno === c.a && st.hw >= c.a) {
        this.#duplicate(conn);
        return;
      }
      this.#vbs.set(c.vbucket, {
        begun: true,
        vbuuid: c.vbuuid,
        ...vbuuidWords(c.vbuuid),
        hw: c.a,
        beginSeqno: c.a,
        snapStart: -1,
      });
      this.#push({
        event: { type: 'begin', vbucket: c.vbucket, vbuuid: c.vbuuid, startSeqno: c.a },
        conn,
        group: { remaining: 1, msn: c.msn },
      });
      return;
    }
    if (c.op === ControlOp.End) {
      if (st && !st.begun && st.vbuuid === c.vbuuid) {
        this.#duplicate(conn);
        return;
      }
      if (!st?.begun || st.vbuuid !== c.vbuuid) {
        this.#refuse(conn, c.msn, c.vbucket, ErrVbucketNotBegun(c.vbucket));
        return;
      }
      st.begun = false;
      this.#push({
        event: { type: 'end', vbucket: c.vbucket, vbuuid: c.vbuuid, lastSeqno: st.hw },
        conn,
        group: { remaining: 1, msn: c.msn },
      });
      return;
    }
    // Snapshot marker.
    if (st && st.vbuuid === c.vbuuid && st.snapStart >= c.a) {
      this.#duplicate(conn);
      return;
    }
    if (!st?.begun || st.vbuuid !== c.vbuuid) {
      this.#refuse(conn, c.msn, c.vbucket, ErrVbucketNotBegun(c.vbucket));
      return;
    }
    st.snapStart = c.a;
    this.#push({
      event: { type: 'snapshot', vbucket: c.vbucket, vbuuid: c.vbuuid, start: c.a, end: c.b, flags: c.flags },
      conn,
      group: { remaining: 1, msn: c.msn },
    });
  }

  /** A resend of something already delivered: acknowledge, never deliver twice. */
  #duplicate(conn: Conn): void {
    this.#c.duplicates.inc();
    if (conn.queued === 0 && conn.current === undefined) this.#ack(conn, conn.received);
  }

  /** Refused message: the client's send() rejects with `err`, and the application hears of it. */
  #refuse(conn: Conn, msn: number, vbucket: number, err: TributaryError): void {
    this.#finishBatch(conn);
    this.#log.warn({ err, remote: conn.remote }, 'mutation stream message refused');
    conn.transport
      .post(nackType, { msn, vbucket, code: err.code, message: err.message }, { flush: true })
      .catch(() => {});
    this.#push({
      event: { type: 'error', error: err, vbucket, remote: conn.remote },
      conn,
      group: { remaining: 1, msn },
    });
  }

  #publishError(error: TributaryError, vbucket: number | undefined, remote: string | undefined): void {
    this.#push({ event: { type: 'error', error, vbucket, remote }, conn: undefined, group: undefined });
  }

  #push(q: Queued): void {
    if (q.event.type === 'error') this.#c.errors.inc();
    if (q.conn) q.conn.queued++;
    this.#queue.push(q);
    if (!this.#paused && this.#queue.length - this.#qHead >= this.#maxQueued) {
      this.#paused = true;
      for (const c of this.#conns) c.transport.pause();
    }
    const w = this.#wakeup;
    if (w) {
      this.#wakeup = undefined;
      w();
    }
  }

  #take(): MutationStreamEvent | undefined {
    if (this.#qHead >= this.#queue.length) return undefined;
    const q = this.#queue[this.#qHead] as Queued;
    this.#queue[this.#qHead++] = undefined as unknown as Queued;
    if (this.#qHead > 1024 && this.#qHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#qHead);
      this.#qHead = 0;
    }
    const left = this.#queue.length - this.#qHead;
    if (this.#paused && left <= this.#maxQueued / 2) {
      this.#paused = false;
      for (const c of this.#conns) c.transport.resume();
    }
    const conn = q.conn;
    const g = q.group;
    if (conn && g) {
      conn.queued--;
      if (--g.remaining === 0)
        this.#ack(
          conn,
          conn.queued === 0 && conn.current === undefined ? Math.max(g.msn, conn.received) : g.msn,
        );
    }
    if (q.event.type === 'batch') {
      this.#c.batchesDelivered.inc();
      this.#c.mutationsDelivered.inc(q.event.mutations.length);
    }
    return q.event;
  }

  #ack(conn: Conn, msn: number): void {
    if (msn <= conn.ackTo) return;
    conn.ackTo = msn;
    if (conn.ackScheduled) return;
    conn.ackScheduled = true;
    setImmediate(() => {
      conn.ackScheduled = false;
      if (conn.ackTo > conn.acked && conn.transport.isReady) {
        conn.acked = conn.ackTo;
        conn.transport.post(ackType, conn.ackTo).catch(() => {});
      }
    });
  }

  /** The primary API: one consumer at a time. Ends after close() once the queue is drained. */
  [Symbol.asyncIterator](): AsyncIterator<MutationStreamEvent> {
    if (this.#iterating) throw ErrMutationStreamClosed('server: a second concurrent iterator');
    this.#iterating = true;
    const next = async (): Promise<IteratorResult<MutationStreamEvent>> => {
      for (;;) {
        const ev = this.#take();
        if (ev !== undefined) return { value: ev, done: false };
        if (this.#closed) {
          this.#iterating = false;
          return { value: undefined, done: true };
        }
        await new Promise<void>((r) => {
          this.#wakeup = r;
        });
      }
    };
    return {
      next,
      return: async () => {
        this.#iterating = false;
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * Thin adapter: pumps the iterator and emits 'batch', 'begin', 'end', 'snapshot' and 'error'
   * (plus 'event' for all). An 'error' with no listener is logged and counted, never thrown.
   */
  toEventEmitter(): EventEmitter {
    const em = new EventEmitter();
    (async () => {
      for await (const ev of this) {
        em.emit('event', ev);
        if (ev.type === 'error' && em.listenerCount('error') === 0) {
          this.#log.error({ err: ev.error }, 'mutation stream error with no listener');
          continue;
        }
        em.emit(ev.type, ev);
      }
      em.emit('close');
    })().catch((err) => this.#log.error({ err }, 'event emitter adapter failed'));
    return em;
  }

  /** Highest seqno delivered per begun vbucket. */
  highWater(vbucket: number): { vbuuid: bigint; seqno: number; begun: boolean } | undefined {
    const st = this.#vbs.get(vbucket);
    return st && { vbuuid: st.vbuuid, seqno: st.hw, begun: st.begun };
  }

  stats(): MutationStreamServerStats {
    const c = this.#c;
    return {
      connections: this.#conns.size,
      mutationsDelivered: c.mutationsDelivered.value,
      batchesDelivered: c.batchesDelivered.value,
      duplicates: c.duplicates.value,
      errors: c.errors.value,
      malformedFrames: c.malformedFrames.value,
      queued: this.#queue.length - this.#qHead,
    };
  }

  /** Stops listening, closes every connection; the iterator ends once what is queued is taken. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener?.close();
    await Promise.all([...this.#conns].map((c) => c.transport.close()));
    const w = this.#wakeup;
    this.#wakeup = undefined;
    w?.();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function createMutationStreamServer(options: MutationStreamServerOptions): MutationStreamServer {
  return new MutationStreamServer(options);
}

export type { Mutation };
