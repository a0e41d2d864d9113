// The mutation stream client: pushes mutations downstream over N lanes (mutation-lane.ts), a
// vbucket always on lane v % n so its order holds whatever n is. Each lane encodes straight into
// its resend ring and takes its connection from a @tributary/pool Pool (the client's own, or one
// passed in), as undici's Pool hands out Clients: a dead connection is replaced through the pool
// with backoff and the lane's vbuckets move to the new one with their resend buffer.
import { setMaxListeners } from 'node:events';
import {
  type AuthProvider,
  backoffLoop,
  type ConnectionFactory,
  componentLogger,
  type Endpoint,
  ErrInvalidArgument,
  formatEndpoint,
  type Logger,
  TributaryError,
} from '@tributary/core';
import { createMetrics, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import { createPool, type Pool } from '@tributary/pool';
import { ErrMutationOrder, ErrMutationStreamClosed } from './errors.js';
import {
  ackType,
  byeType,
  ControlOp,
  controlType,
  MSTREAM_VERSION,
  mutationFrameSize,
  mutationType,
  nackType,
} from './internal/mutation-wire.js';
import { tlsRejection } from './internal/tls-rejection.js';
import type { Mutation } from './mutation.js';
import { BatchTarget, MutationLane } from './mutation-lane.js';
import { createTransport, type TransportSettings } from './transport.js';

export interface MutationStreamClientOptions {
  endpoint: Endpoint;
  /** Connections to open (default 1). vbucket v always travels on connection v % n. */
  connections?: number;
  factory: ConnectionFactory;
  /**
   * Where connections come from. Default: a pool of this client's own over `factory` and
   * `endpoint` (max = connections), closed with the client. One passed in is shared: the client
   * takes `connections` from it, destroys the ones that die, and leaves the pool open at close.
   */
  pool?: Pool;
  auth?: { provider: AuthProvider; username: string; password: string; mechanism?: string };
  /** Write batching: frames are written this long after the first (0 = end of tick) or once maxBatchBytes wait. Defaults 0 ms and 64 KiB. */
  flushIntervalMs?: number;
  maxBatchBytes?: number;
  /** Other transport settings. */
  settings?: Partial<TransportSettings>;
  /** Unacknowledged messages per connection before send() waits. Default 65 536. */
  maxInFlight?: number;
  /**
   * Bytes of unacknowledged messages (the resend buffer) per connection before send() waits.
   * Default 4 MiB; at least 64 KiB. A message bigger than this is refused (TRIB_INVALID_ARGUMENT).
   */
  maxBufferedBytes?: number;
  /** Calls allowed to wait for room per connection before TRIB_TRANSPORT_QUEUE_FULL (a sendMany is one). Default 65 536. */
  maxWaiting?: number;
  /** Reconnect backoff. Defaults 50 ms, x2, max 5 s. */
  backoff?: { startMs?: number; factor?: number; maxMs?: number };
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Errors no send() is waiting for (a connection lost, a reconnect attempt failing). */
  onError?: (err: TributaryError) => void;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

export interface MutationStreamClientStats {
  sent: number;
  acked: number;
  resent: number;
  refused: number;
  reconnects: number;
  inFlight: number;
  connected: number;
  /** Bytes held in the resend buffers (all connections). */
  bufferedBytes: number;
}

const KINDS = new Set(['mutation', 'deletion', 'expiration']);
const VBUCKETS = 65_536;

/** A firstConnect promise per lane: resolved by its first handshake, rejected by a fatal error. */
interface FirstConnect {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * Pushes mutations downstream over N connections. A vbucket always uses the same connection so
 * its order holds whatever N is. send() resolves when the server has handed the mutation to its
 * application; after a reconnect every unacknowledged message is sent again and the server drops
 * what it already delivered, so nothing is lost or delivered twice.
 */
export class MutationStreamClient {
  #o: MutationStreamClientOptions;
  #log: Logger;
  #m: MetricsGroup;
  #c: Record<string, { inc(n?: number): void; value: number }>;
  #lanes: MutationLane[];
  #first: FirstConnect[];
  #pool: Pool;
  #ownPool: boolean;
  /** Per vbucket: begun, its vbuuid, the last seqno sent. */
  #begun = new Uint8Array(VBUCKETS);
  #last = new Float64Array(VBUCKETS);
  #vbuuid: bigint[] = [];
  #closed = false;
  #abort = new AbortController();

  constructor(o: MutationStreamClientOptions) {
    const n = o.connections ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 1024)
      throw ErrInvalidArgument('connections', 'an integer in 1..1024');
    const maxInFlight = o.maxInFlight ?? 65_536;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 1 << 24)
      throw ErrInvalidArgument('maxInFlight', 'an integer in 1..16777216');
    const ringBytes = o.maxBufferedBytes ?? 4 * 1024 * 1024;
    if (!Number.isInteger(ringBytes) || ringBytes < 64 * 1024 || ringBytes > 2 ** 31)
      throw ErrInvalidArgument('maxBufferedBytes', 'an integer in 65536..2^31');
    this.#o = o;
    this.#log = componentLogger(o.logger, 'mutation-stream-client');
    this.#m = (o.metrics ?? createMetrics()).group('mutation-stream-client');
    this.#c = {};
    for (const [k, name, help] of [
      ['sent', 'sent', 'Mutations sent downstream'],
      ['acked', 'acked', 'Mutations the server acknowledged'],
      ['resent', 'resent', 'Mutations sent again after a reconnect'],
      ['refused', 'refused', 'Mutations refused (closed, or too many waiting)'],
      ['reconnects', 'reconnects', 'Connections made again after one was lost'],
      ['connectFailures', 'connect_failures', 'Failed connection attempts'],
    ] as const)
      this.#c[k] = this.#m.counter(name, help);
    const c = this.#c;
    const host = {
      log: this.#log,
      countSent: (k: number) => c.sent.inc(k),
      countAcked: (k: number) => c.acked.inc(k),
      countRefused: (k: number) => c.refused.inc(k),
      connect: (lane: MutationLane) => this.#ensureConnecting(lane),
    };
    const laneOptions = {
      ringBytes,
      maxInFlight,
      maxWaiting: o.maxWaiting ?? 65_536,
      maxBatchBytes: o.maxBatchBytes ?? o.settings?.maxBatchBytes ?? 64 * 1024,
      flushIntervalMs: o.flushIntervalMs ?? o.settings?.flushIntervalMs ?? 0,
    };
    this.#lanes = Array.from({ length: n }, (_, i) => new MutationLane(i, host, laneOptions));
    this.#first = this.#lanes.map(() => {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((a, b) => {
        resolve = a;
        reject = b;
      });
      promise.catch(() => {});
      return { promise, resolve, reject };
    });
    this.#ownPool = o.pool === undefined;
    this.#pool =
      o.pool ??
      createPool({
        factory: o.factory,
        endpoint: o.endpoint,
        max: n,
        min: 0,
        // The lanes wait for connections with their own backoff; the pool never gives up on them.
        acquireTimeoutMs: 0,
        idleTimeoutMs: 0,
        maxWaiting: n,
        connectTimeoutMs: o.connectTimeoutMs,
        name: 'mutation-stream-client',
        logger: o.logger,
        metrics: o.metrics,
      });
    // Every lane's connect attempt and backoff sleep listens on this one signal.
    setMaxListeners(4 * n + 16, this.#abort.signal);
  }

  get connections(): number {
    return this.#lanes.length;
  }

  /** The pool the connections come from. */
  get pool(): Pool {
    return this.#pool;
  }

  /** Which connection carries `vbucket`. */
  connectionFor(vbucket: number): number {
    return vbucket % this.#lanes.length;
  }

  /**
   * Opens every connection (retrying with backoff until close()). Resolves once each has
   * handshaken once. Sending before that is fine: messages wait in the bounded buffer.
   */
  async connect(): Promise<void> {
    if (this.#closed) throw ErrMutationStreamClosed('client');
    for (const l of this.#lanes) this.#ensureConnecting(l);
    await Promise.all(this.#first.map((f) => f.promise));
  }

  #ensureConnecting(lane: MutationLane): void {
    if (lane.connecting || lane.transport || this.#closed || lane.failure) return;
    const b = this.#o.backoff ?? {};
    lane.connecting = backoffLoop(
      `mstream-connect#${lane.index}`,
      async () => {
        if (this.#closed) return -1;
        try {
          await this.#connectOnce(lane);
          return -1;
        } catch (err) {
          if (this.#closed) return -1;
          this.#c.connectFailures.inc();
          const e =
            tlsRejection(err, formatEndpoint(this.#o.endpoint)) ??
            (err instanceof TributaryError ? err : new TributaryError('TRIB_CONNECT_FAILED', String(err)));
          // An authentication, version or certificate problem will not fix itself: stop and fail
          // the first connect and every send, rather than retry a peer that refused us forever.
          const fatal = /^TRIB_(AUTH_|TRANSPORT_VERSION|TRANSPORT_SETTINGS|TLS_REJECTED)/.test(e.code);
          if (fatal)
            this.#log.error({ err: e, slot: lane.index }, 'mutation stream connect refused, giving up');
          else this.#log.warn({ err: e, slot: lane.index }, 'mutation stream connect failed, retrying');
          this.#report(e);
          if (fatal) {
            lane.failure = e;
            this.#first[lane.index]?.reject(e);
            lane.failAll(e);
            return -1;
          }
          return 0;
        }
      },
      { startMs: b.startMs ?? 50, factor: b.factor ?? 2, maxMs: b.maxMs ?? 5000, signal: this.#abort.signal },
    ).finally(() => {
      lane.connecting = undefined;
      // The connection may have died between the handshake and here: go again.
      if (lane.transport === undefined && !lane.failure && !this.#closed) this.#ensureConnecting(lane);
    });
  }

  async #connectOnce(lane: MutationLane): Promise<void> {
    const guard = await this.#pool.acquire({ signal: this.#abort.signal });
    const settings: Partial<TransportSettings> = { ...this.#o.settings };
    if (this.#o.flushIntervalMs !== undefined) settings.flushIntervalMs = this.#o.flushIntervalMs;
    if (this.#o.maxBatchBytes !== undefined) settings.maxBatchBytes = this.#o.maxBatchBytes;
    if (settings.maxBatchBytes !== undefined && settings.maxQueueBytes === undefined)
      settings.maxQueueBytes = Math.max(4 * 1024 * 1024, settings.maxBatchBytes);
    let t: ReturnType<typeof createTransport>;
    try {
      t = createTransport(guard.connection, {
        name: `mstream-client#${lane.index}`,
        version: MSTREAM_VERSION,
        settings,
        auth: this.#o.auth ? { role: 'client', ...this.#o.auth } : undefined,
        handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
        logger: this.#o.logger,
        metrics: this.#o.metrics,
      });
    } catch (err) {
      guard.destroy('transport refused its settings');
      throw err;
    }
    t.subscribe(mutationType).subscribe(controlType).subscribe(byeType);
    t.subscribe(ackType, (msn) => lane.onAck(msn));
    t.subscribe(nackType, (n) => lane.onNack(n.msn, n.code, n.message));
    try {
      await t.handshake();
    } catch (err) {
      t.destroy();
      guard.destroy('mutation stream handshake failed');
      throw err;
    }
    if (this.#closed) {
      await t.close();
      guard.destroy('client closed');
      return;
    }
    if (lane.everConnected) this.#c.reconnects.inc();
    const resent = lane.attach(t, guard);
    if (resent > 0) this.#c.resent.inc(resent);
    t.closed.then((err) => {
      if (!lane.detach(t) || this.#closed) return;
      this.#log.warn({ err, slot: lane.index }, 'mutation stream connection lost, reconnecting');
      if (err) this.#report(err);
      this.#ensureConnecting(lane);
    });
    this.#first[lane.index]?.resolve();
  }

  #report(err: TributaryError): void {
    try {
      this.#o.onError?.(err);
    } catch (e) {
      this.#log.error({ err: e }, 'onError threw');
    }
  }

  #lane(vbucket: number): MutationLane {
    if (!Number.isInteger(vbucket) || vbucket < 0 || vbucket > 0xffff)
      throw ErrInvalidArgument('vbucket', 'an integer in 0..65535');
    return this.#lanes[vbucket % this.#lanes.length] as MutationLane;
  }

  #check(m: Mutation): void {
    if (!Number.isInteger(m.vbucket) || m.vbucket < 0 || m.vbucket > 0xffff)
      throw ErrInvalidArgument('vbucket', 'an integer in 0..65535');
    if (!KINDS.has(m.kind)) throw ErrInvalidArgument('kind', "'mutation', 'deletion' or 'expiration'");
    if (typeof m.vbuuid !== 'bigint' || typeof m.cas !== 'bigint')
      throw ErrInvalidArgument('mutation', 'vbuuid and cas are bigint');
    if (!Number.isSafeInteger(m.seqno) || m.seqno < 0)
      throw ErrInvalidArgument('seqno', 'a safe non-negative integer');
  }

  /**
   * Sends one mutation; resolves when the server acknowledged it, rejects if refused (gap, not
   * begun). Waits (the promise stays pending) while the connection's resend buffer is full.
   * For many at once, sendMany() costs one promise instead of one each.
   */
  send(m: Mutation): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    try {
      this.#check(m);
    } catch (err) {
      return Promise.reject(err);
    }
    const vb = m.vbucket;
    const lane = this.#lanes[vb % this.#lanes.length] as MutationLane;
    // Refused before its seqno counts: a refused mutation must not make the next one a gap.
    const size = mutationFrameSize(m);
    if (size > lane.maxMessageBytes())
      return Promise.reject(
        ErrInvalidArgument(
          'mutation',
          `${size} bytes encoded; at most ${lane.maxMessageBytes()} on a connection`,
        ),
      );
    let prev = 0;
    if (this.#begun[vb] === 1) {
      const last = this.#last[vb] as number;
      if (!(m.seqno > last)) return Promise.reject(ErrMutationOrder(vb, last, m.seqno));
      prev = last;
      this.#last[vb] = m.seqno;
    }
    // A vbucket never begun is sent anyway (prev 0): the server refuses it and both sides hear why.
    return lane.sendMutation(m, prev);
  }

  /**
   * Sends many mutations with one promise: it resolves when the server has acknowledged all of
   * them, and rejects with the first refusal (a gap, a vbucket not begun; the others still go).
   * Checked whole before anything is sent: a bad mutation or seqno order rejects the call and
   * sends none. Encoding waits for room in the resend buffers as send() does, in call order.
   */
  sendMany(ms: readonly Mutation[]): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    const len = ms.length;
    const prevs = new Float64Array(len);
    const n = this.#lanes.length;
    const counts = new Uint32Array(n);
    // Check everything first (seqno order against a scratch copy), then commit.
    const touched: number[] = [];
    const scratch = new Map<number, number>();
    try {
      for (let i = 0; i < len; i++) {
        const m = ms[i] as Mutation;
        this.#check(m);
        const vb = m.vbucket;
        const lane = this.#lanes[vb % n] as MutationLane;
        if (mutationFrameSize(m) > lane.maxMessageBytes())
          throw ErrInvalidArgument(
            'mutation',
            `${mutationFrameSize(m)} bytes encoded; at most ${lane.maxMessageBytes()}`,
          );
        counts[vb % n]++;
        if (this.#begun[vb] !== 1) continue;
        const last = scratch.get(vb) ?? (this.#last[vb] as number);
        if (!(m.seqno > last)) throw ErrMutationOrder(vb, last, m.seqno);
        if (!scratch.has(vb)) touched.push(vb);
        scratch.set(vb, m.seqno);
        prevs[i] = last;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    for (const vb of touched) this.#last[vb] = scratch.get(vb) as number;
    let parts = 0;
    for (let l = 0; l < n; l++) if ((counts[l] as number) > 0) parts++;
    const batch = new BatchTarget(parts);
    if (n === 1) {
      if (len > 0) (this.#lanes[0] as MutationLane).sendBatch(ms, prevs, undefined, batch);
      return batch.promise;
    }
    const idx = Array.from({ length: n }, (_, l) => new Uint32Array(counts[l] as number));
    const fill = new Uint32Array(n);
    for (let i = 0; i < len; i++) {
      const l = (ms[i] as Mutation).vbucket % n;
      (idx[l] as Uint32Array)[fill[l]++] = i;
    }
    for (let l = 0; l < n; l++)
      if ((counts[l] as number) > 0) (this.#lanes[l] as MutationLane).sendBatch(ms, prevs, idx[l], batch);
    return batch.promise;
  }

  /** Starts a vbucket: its mutations follow `startSeqno` (default 0) under `vbuuid`. */
  beginVbucket(vbucket: number, vbuuid: bigint, options: { startSeqno?: number } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    let lane: MutationLane;
    try {
      lane = this.#lane(vbucket);
    } catch (err) {
      return Promise.reject(err);
    }
    const start = options.startSeqno ?? 0;
    this.#begun[vbucket] = 1;
    this.#last[vbucket] = start;
    this.#vbuuid[vbucket] = vbuuid;
    return lane.controlPromise({ msn: 0, vbucket, op: ControlOp.Begin, vbuuid, a: start, b: 0, flags: 0 });
  }

  /** Ends a vbucket; mutations for it are refused until it is begun again. */
  endVbucket(vbucket: number): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    let lane: MutationLane;
    try {
      lane = this.#lane(vbucket);
    } catch (err) {
      return Promise.reject(err);
    }
    const begun = this.#begun[vbucket] === 1;
    const vbuuid = begun ? (this.#vbuuid[vbucket] ?? 0n) : 0n;
    const last = begun ? (this.#last[vbucket] as number) : 0;
    this.#begun[vbucket] = 0;
    return lane.controlPromise({ msn: 0, vbucket, op: ControlOp.End, vbuuid, a: last, b: 0, flags: 0 });
  }

  /** A snapshot marker: the mutations that follow belong to [start, end]. */
  snapshot(vbucket: number, start: number, end: number, flags = 0): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    let lane: MutationLane;
    try {
      lane = this.#lane(vbucket);
    } catch (err) {
      return Promise.reject(err);
    }
    const vbuuid = this.#begun[vbucket] === 1 ? (this.#vbuuid[vbucket] ?? 0n) : 0n;
    return lane.controlPromise({ msn: 0, vbucket, op: ControlOp.Snapshot, vbuuid, a: start, b: end, flags });
  }

  /** Writes buffered messages now on every connection. */
  flush(): void {
    for (const l of this.#lanes) l.write();
  }

  /** Messages not yet acknowledged (and calls waiting for room), over all connections. */
  get inFlight(): number {
    let n = 0;
    for (const l of this.#lanes) n += l.inFlight;
    return n;
  }

  /** Resolves once everything sent so far is acknowledged or refused (or the signal aborts). */
  async drain(options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const waits: Promise<void>[] = [];
      let waiting = false;
      for (const l of this.#lanes) {
        const p = l.whenAcked();
        if (p) waits.push(p);
        if (l.pendingCount > 0) waiting = true;
      }
      if (waits.length === 0 && !waiting) return;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        const done = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        // Only callers waiting for room left (not in a ring yet): look again on the next turn.
        if (waits.length === 0) setImmediate(done);
        else Promise.all(waits).then(done);
      });
    }
  }

  stats(): MutationStreamClientStats {
    const c = this.#c;
    let connected = 0;
    let bufferedBytes = 0;
    for (const l of this.#lanes) {
      if (l.transport?.isReady) connected++;
      bufferedBytes += l.ring.bytes;
    }
    return {
      sent: c.sent.value,
      acked: c.acked.value,
      resent: c.resent.value,
      refused: c.refused.value,
      reconnects: c.reconnects.value,
      inFlight: this.inFlight,
      connected,
      bufferedBytes,
    };
  }

  /** Test hook and operator tool: drop connection `index` as if the network failed (it reconnects). */
  dropConnection(index: number): void {
    this.#lanes[index]?.transport?.destroy();
  }

  /**
   * Closes the client. With `drain` (default true) it first waits up to `timeoutMs` (default
   * 10 s) for outstanding messages to be acknowledged; whatever is left rejects with TRIB_MSTREAM_CLOSED.
   */
  async close(options: { drain?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    if (options.drain !== false && this.inFlight > 0) {
      await this.drain({ signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) }).catch(() => {});
    }
    this.#closed = true;
    this.#abort.abort();
    const err = ErrMutationStreamClosed('client');
    await Promise.all(
      this.#lanes.map(async (l) => {
        this.#first[l.index]?.reject(err);
        l.failAll(err);
        const t = l.transport;
        const g = l.guard;
        l.transport = undefined;
        l.guard = undefined;
        if (t?.isReady) {
          await t.post(byeType, Buffer.alloc(0), { flush: true }).catch(() => {});
          await t.close();
        } else t?.destroy();
        if (g && !g.done) g.destroy('mutation stream client closed');
      }),
    );
    if (this.#ownPool) await this.#pool.close({ drain: false });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function createMutationStreamClient(options: MutationStreamClientOptions): MutationStreamClient {
  return new MutationStreamClient(options);
}
