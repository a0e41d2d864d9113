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
import { ErrMutationOrder, ErrMutationStreamClosed, ErrTransportQueueFull } from './errors.js';
import {
  ackType,
  byeType,
  ControlOp,
  controlType,
  encodeControl,
  encodeMutation,
  MSTREAM_VERSION,
  mutationType,
  nackType,
} from './internal/mutation-wire.js';
import { tlsRejection } from './internal/tls-rejection.js';
import type { Mutation } from './mutation.js';
import { createTransport, type Transport, type TransportSettings } from './transport.js';

export interface MutationStreamClientOptions {
  endpoint: Endpoint;
  /** Connections to open (default 1). vbucket v always travels on connection v % n. */
  connections?: number;
  factory: ConnectionFactory;
  auth?: { provider: AuthProvider; username: string; password: string; mechanism?: string };
  /** Write batching (see TransportSettings). Defaults 0 ms (end of tick) and 64 KiB. */
  flushIntervalMs?: number;
  maxBatchBytes?: number;
  /** Other transport settings. */
  settings?: Partial<TransportSettings>;
  /** Unacknowledged messages per connection before send() waits. Default 65 536. */
  maxInFlight?: number;
  /** Senders allowed to wait for room per connection before TRIB_TRANSPORT_QUEUE_FULL. Default 65 536. */
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

interface Entry {
  msn: number;
  isMutation: boolean;
  payload: Buffer;
  resolve(): void;
  reject(e: unknown): void;
  done: boolean;
}

interface Pending {
  make(msn: number): Entry;
}

export interface MutationStreamClientStats {
  sent: number;
  acked: number;
  resent: number;
  refused: number;
  reconnects: number;
  inFlight: number;
  connected: number;
}

class Slot {
  readonly index: number;
  transport: Transport | undefined;
  entries: Entry[] = [];
  head = 0;
  /** Index in `entries` of the next entry to write. */
  next = 0;
  nextMsn = 1;
  waiting: Pending[] = [];
  pumping = false;
  connecting: Promise<void> | undefined;
  everConnected = false;
  failed = false;
  failure: TributaryError | undefined;
  firstConnect: { resolve(): void; reject(e: unknown): void; promise: Promise<void> };

  constructor(index: number) {
    this.index = index;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((a, b) => {
      resolve = a;
      reject = b;
    });
    promise.catch(() => {});
    this.firstConnect = { resolve, reject, promise };
  }

  get inFlight(): number {
    return this.entries.length - this.head;
  }
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
  #slots: Slot[];
  #vbs = new Map<number, { vbuuid: bigint; last: number }>();
  #closed = false;
  #abort = new AbortController();
  readonly #maxInFlight: number;
  readonly #maxWaiting: number;

  constructor(o: MutationStreamClientOptions) {
    const n = o.connections ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 1024)
      throw ErrInvalidArgument('connections', 'an integer in 1..1024');
    this.#o = o;
    this.#maxInFlight = o.maxInFlight ?? 65_536;
    this.#maxWaiting = o.maxWaiting ?? 65_536;
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
    this.#slots = Array.from({ length: n }, (_, i) => new Slot(i));
    // Every slot's connect attempt and backoff sleep listens on this one signal.
    setMaxListeners(4 * n + 16, this.#abort.signal);
  }

  get connections(): number {
    return this.#slots.length;
  }

  /** Which connection carries `vbucket`. */
  connectionFor(vbucket: number): number {
    return vbucket % this.#slots.length;
  }

  /**
   * Opens every connection (retrying with backoff until close()). Resolves once each has
   * handshaken once. Sending before that is fine: messages wait in the bounded queue.
   */
  async connect(): Promise<void> {
    if (this.#closed) throw ErrMutationStreamClosed('client');
    for (const s of this.#slots) this.#ensureConnecting(s);
    await Promise.all(this.#slots.map((s) => s.firstConnect.promise));
  }

  #ensureConnecting(s: Slot): void {
    if (s.connecting || this.#closed || s.failed) return;
    const b = this.#o.backoff ?? {};
    s.connecting = backoffLoop(
      `mstream-connect#${s.index}`,
      async () => {
        if (this.#closed) return -1;
        try {
          await this.#connectOnce(s);
          return -1;
        } catch (err) {
          this.#c.connectFailures.inc();
          const e =
            tlsRejection(err, formatEndpoint(this.#o.endpoint)) ??
            (err instanceof TributaryError ? err : new TributaryError('TRIB_CONNECT_FAILED', String(err)));
          // An authentication, version or certificate problem will not fix itself: stop and fail
          // the first connect and every send, rather than retry a peer that refused us forever.
          const fatal = /^TRIB_(AUTH_|TRANSPORT_VERSION|TRANSPORT_SETTINGS|TLS_REJECTED)/.test(e.code);
          if (fatal) this.#log.error({ err: e, slot: s.index }, 'mutation stream connect refused, giving up');
          else this.#log.warn({ err: e, slot: s.index }, 'mutation stream connect failed, retrying');
          this.#report(e);
          if (fatal) {
            s.failed = true;
            s.failure = e;
            s.firstConnect.reject(e);
            this.#failAll(s, e);
            return -1;
          }
          return 0;
        }
      },
      { startMs: b.startMs ?? 50, factor: b.factor ?? 2, maxMs: b.maxMs ?? 5000, signal: this.#abort.signal },
    ).finally(() => {
      s.connecting = undefined;
      // The connection may have died between the handshake and here: go again.
      if (s.transport === undefined && !s.failed && !this.#closed) this.#ensureConnecting(s);
    });
  }

  async #connectOnce(s: Slot): Promise<void> {
    const conn = await this.#o.factory.connect(this.#o.endpoint, {
      signal: this.#abort.signal,
      timeoutMs: this.#o.connectTimeoutMs,
    });
    const settings: Partial<TransportSettings> = { ...this.#o.settings };
    if (this.#o.flushIntervalMs !== undefined) settings.flushIntervalMs = this.#o.flushIntervalMs;
    if (this.#o.maxBatchBytes !== undefined) settings.maxBatchBytes = this.#o.maxBatchBytes;
    if (settings.maxBatchBytes !== undefined && settings.maxQueueBytes === undefined)
      settings.maxQueueBytes = Math.max(4 * 1024 * 1024, settings.maxBatchBytes);
    const t = createTransport(conn, {
      name: `mstream-client#${s.index}`,
      version: MSTREAM_VERSION,
      settings,
      auth: this.#o.auth ? { role: 'client', ...this.#o.auth } : undefined,
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
      logger: this.#o.logger,
      metrics: this.#o.metrics,
    });
    t.subscribe(mutationType).subscribe(controlType).subscribe(byeType);
    t.subscribe(ackType, (msn) => this.#onAck(s, msn));
    t.subscribe(nackType, (n) => this.#onNack(s, n.msn, n.code, n.message));
    try {
      await t.handshake();
    } catch (err) {
      t.destroy();
      throw err;
    }
    if (this.#closed) {
      await t.close();
      return;
    }
    s.transport = t;
    if (s.everConnected) this.#c.reconnects.inc();
    s.everConnected = true;
    // Everything not acknowledged goes again, in order.
    const resend = s.next - s.head;
    if (resend > 0) this.#c.resent.inc(resend);
    s.next = s.head;
    t.closed.then((err) => {
      if (s.transport === t) s.transport = undefined;
      if (this.#closed) return;
      this.#log.warn({ err, slot: s.index }, 'mutation stream connection lost, reconnecting');
      if (err) this.#report(err);
      this.#ensureConnecting(s);
    });
    s.firstConnect.resolve();
    this.#pump(s);
  }

  #report(err: TributaryError): void {
    try {
      this.#o.onError?.(err);
    } catch (e) {
      this.#log.error({ err: e }, 'onError threw');
    }
  }

  /** Sends one mutation; resolves when the server acknowledged it, rejects if refused (gap, not begun). */
  send(m: Mutation): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    const vb = this.#vbs.get(m.vbucket);
    let prev = 0;
    if (vb) {
      if (!(m.seqno > vb.last)) return Promise.reject(ErrMutationOrder(m.vbucket, vb.last, m.seqno));
      prev = vb.last;
      vb.last = m.seqno;
    }
    // A vbucket never begun is sent anyway (prev 0): the server refuses it and both sides hear why.
    return this.#enqueue(this.#slot(m.vbucket), true, (msn) => encodeMutation(msn, prev, m));
  }

  /** Starts a vbucket: its mutations follow `startSeqno` (default 0) under `vbuuid`. */
  beginVbucket(vbucket: number, vbuuid: bigint, options: { startSeqno?: number } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    const start = options.startSeqno ?? 0;
    this.#vbs.set(vbucket, { vbuuid, last: start });
    return this.#enqueue(this.#slot(vbucket), false, (msn) =>
      encodeControl({ msn, vbucket, op: ControlOp.Begin, vbuuid, a: start, b: 0, flags: 0 }),
    );
  }

  /** Ends a vbucket; mutations for it are refused until it is begun again. */
  endVbucket(vbucket: number): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    const vb = this.#vbs.get(vbucket);
    this.#vbs.delete(vbucket);
    return this.#enqueue(this.#slot(vbucket), false, (msn) =>
      encodeControl({
        msn,
        vbucket,
        op: ControlOp.End,
        vbuuid: vb?.vbuuid ?? 0n,
        a: vb?.last ?? 0,
        b: 0,
        flags: 0,
      }),
    );
  }

  /** A snapshot marker: the mutations that follow belong to [start, end]. */
  snapshot(vbucket: number, start: number, end: number, flags = 0): Promise<void> {
    if (this.#closed) return Promise.reject(ErrMutationStreamClosed('client'));
    const vb = this.#vbs.get(vbucket);
    return this.#enqueue(this.#slot(vbucket), false, (msn) =>
      encodeControl({
        msn,
        vbucket,
        op: ControlOp.Snapshot,
        vbuuid: vb?.vbuuid ?? 0n,
        a: start,
        b: end,
        flags,
      }),
    );
  }

  #slot(vbucket: number): Slot {
    if (!Number.isInteger(vbucket) || vbucket < 0 || vbucket > 0xffff)
      throw ErrInvalidArgument('vbucket', 'an integer in 0..65535');
    return this.#slots[vbucket % this.#slots.length] as Slot;
  }

  #enqueue(s: Slot, isMutation: boolean, encode: (msn: number) => Buffer): Promise<void> {
    if (s.failure !== undefined) return Promise.reject(s.failure);
    // Sending before connect() connects (lazily, this connection only).
    if (s.transport === undefined && s.connecting === undefined) this.#ensureConnecting(s);
    return new Promise<void>((resolve, reject) => {
      if (s.waiting.length === 0 && s.inFlight < this.#maxInFlight) {
        const msn = s.nextMsn++;
        s.entries.push({ msn, isMutation, payload: encode(msn), resolve, reject, done: false });
        this.#pump(s);
        return;
      }
      if (s.waiting.length >= this.#maxWaiting) {
        reject(ErrTransportQueueFull(s.waiting.length));
        return;
      }
      s.waiting.push({
        make: (msn) => ({ msn, isMutation, payload: encode(msn), resolve, reject, done: false }),
      });
    });
  }

  #append(s: Slot, p: Pending): void {
    s.entries.push(p.make(s.nextMsn++));
  }

  #pump(s: Slot): void {
    const t = s.transport;
    if (s.pumping || t === undefined || !t.isReady) return;
    while (s.next < s.entries.length) {
      const e = s.entries[s.next++] as Entry;
      if (e.done) continue;
      this.#c.sent.inc();
      const p = t.post(e.isMutation ? mutationType : controlType, e.payload);
      if (!t.writable) {
        s.pumping = true;
        p.then(
          () => {
            s.pumping = false;
            this.#pump(s);
          },
          () => {
            s.pumping = false; // the transport closed: the reconnect resends from head
          },
        );
        return;
      }
      p.catch(() => {});
    }
  }

  #onAck(s: Slot, msn: number): void {
    let acked = 0;
    while (s.head < s.entries.length) {
      const e = s.entries[s.head] as Entry;
      if (e.msn > msn) break;
      s.entries[s.head] = undefined as unknown as Entry;
      s.head++;
      if (!e.done) {
        e.done = true;
        acked++;
        e.resolve();
      }
    }
    if (s.next < s.head) s.next = s.head;
    this.#c.acked.inc(acked);
    if (s.head > 4096 && s.head * 2 > s.entries.length) {
      s.entries = s.entries.slice(s.head);
      s.next -= s.head;
      s.head = 0;
    }
    // Room freed: admit waiters in order.
    let admitted = false;
    while (s.waiting.length > 0 && s.inFlight < this.#maxInFlight) {
      this.#append(s, s.waiting.shift() as Pending);
      admitted = true;
    }
    if (admitted) this.#pump(s);
  }

  #onNack(s: Slot, msn: number, code: string, message: string): void {
    this.#c.refused.inc();
    for (let i = s.head; i < s.entries.length; i++) {
      const e = s.entries[i] as Entry;
      if (e.msn === msn) {
        if (!e.done) {
          e.done = true;
          e.reject(
            new TributaryError(/^TRIB_[A-Z0-9_]+$/.test(code) ? code : 'TRIB_MSTREAM_REFUSED', message),
          );
        }
        return;
      }
      if (e.msn > msn) return;
    }
  }

  #failAll(s: Slot, err: unknown): void {
    for (let i = s.head; i < s.entries.length; i++) {
      const e = s.entries[i] as Entry;
      if (!e.done) {
        e.done = true;
        e.reject(err);
      }
    }
    s.entries = [];
    s.head = 0;
    s.next = 0;
    const w = s.waiting;
    s.waiting = [];
    for (const p of w) {
      const e = p.make(0);
      e.reject(err);
    }
  }

  /** Writes batched messages now on every connection. */
  flush(): void {
    for (const s of this.#slots) s.transport?.flush();
  }

  /** Messages not yet acknowledged, over all connections. */
  get inFlight(): number {
    let n = 0;
    for (const s of this.#slots) n += s.inFlight + s.waiting.length;
    return n;
  }

  /** Resolves once everything sent so far is acknowledged or refused (or the signal aborts). */
  async drain(options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      // The newest entry of each connection settles last (acks are cumulative, in order).
      const targets: Entry[] = [];
      for (const s of this.#slots) {
        const e = s.entries[s.entries.length - 1];
        if (e !== undefined && !e.done && s.inFlight > 0) targets.push(e);
      }
      if (targets.length === 0 && this.#slots.every((s) => s.waiting.length === 0)) return;
      await new Promise<void>((resolve, reject) => {
        let left = targets.length;
        const onAbort = () => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        const one = () => {
          if (--left <= 0) {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }
        };
        if (left === 0) {
          // Only waiters left (their entries are not made yet): look again after the next ack.
          setImmediate(one);
          return;
        }
        for (const e of targets) {
          const res = e.resolve;
          const rej = e.reject;
          e.resolve = () => {
            res();
            one();
          };
          e.reject = (x) => {
            rej(x);
            one();
          };
        }
      });
    }
  }

  stats(): MutationStreamClientStats {
    const c = this.#c;
    return {
      sent: c.sent.value,
      acked: c.acked.value,
      resent: c.resent.value,
      refused: c.refused.value,
      reconnects: c.reconnects.value,
      inFlight: this.inFlight,
      connected: this.#slots.filter((s) => s.transport?.isReady).length,
    };
  }

  /** Test hook and operator tool: drop connection `index` as if the network failed (it reconnects). */
  dropConnection(index: number): void {
    this.#slots[index]?.transport?.destroy();
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
      this.#slots.map(async (s) => {
        s.firstConnect.reject(err);
        this.#failAll(s, err);
        const t = s.transport;
        s.transport = undefined;
        if (t?.isReady) {
          await t.post(byeType, Buffer.alloc(0), { flush: true }).catch(() => {});
          await t.close();
        } else t?.destroy();
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function createMutationStreamClient(options: MutationStreamClientOptions): MutationStreamClient {
  return new MutationStreamClient(options);
}
