// One lane of the mutation stream client: the vbuckets v with v % n = index, their resend ring,
// and the connection that carries them now. The connection comes from the client's pool; when
// it dies the lane takes another from the pool (with backoff) and writes every unacknowledged
// frame again, in order, so the lane's vbuckets move to the new connection with their resend
// buffer and the server's dedupe drops what it already had: nothing lost, nothing reordered.
import { DEFAULT_TRANSPORT_MAX_FRAME_BYTES, TRANSPORT_HEADER_BYTES } from '@tributary/codec';
import { type Logger, TributaryError } from '@tributary/core';
import type { PoolGuard } from '@tributary/pool';
import { ErrTransportQueueFull } from './errors.js';
import {
  CONTROL_FRAME_BYTES,
  mutationFrameSize,
  type WireControl,
  writeControlFrame,
  writeMutationFrame,
} from './internal/mutation-wire.js';
import { ResendRing } from './internal/resend-ring.js';
import type { Mutation } from './mutation.js';
import type { Transport } from './transport.js';

/** Who hears that messages were acknowledged or refused. */
export interface AckTarget {
  acked(): void;
  refused(err: TributaryError): void;
}

/** Messages [first, last] of a lane settle `target`. */
interface Waiter {
  first: number;
  last: number;
  target: AckTarget;
}

/** One caller's promise (send, beginVbucket, ...). */
class PromiseTarget implements AckTarget {
  settled = false;
  resolve!: () => void;
  reject!: (e: unknown) => void;
  acked(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve();
  }
  refused(err: TributaryError): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }
}

/** A sendMany() call over every lane: one promise, settled when each lane's part is. */
export class BatchTarget {
  #parts: number;
  #settled = false;
  readonly promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: unknown) => void;
  constructor(parts: number) {
    this.#parts = parts;
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (parts === 0) this.partDone();
  }
  partDone(): void {
    if (--this.#parts <= 0 && !this.#settled) {
      this.#settled = true;
      this.#resolve();
    }
  }
  fail(err: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(err);
  }
}

/** A lane's share of a sendMany() call: encoded piece by piece as room frees. */
class BatchJob implements AckTarget {
  readonly ms: readonly Mutation[];
  readonly prevs: Float64Array;
  /** Indices into ms for this lane, or undefined: all of them. */
  readonly idx: Uint32Array | undefined;
  readonly count: number;
  readonly batch: BatchTarget;
  pos = 0;
  /** Segments encoded and not acknowledged yet. */
  outstanding = 0;
  failed = false;
  constructor(
    ms: readonly Mutation[],
    prevs: Float64Array,
    idx: Uint32Array | undefined,
    batch: BatchTarget,
  ) {
    this.ms = ms;
    this.prevs = prevs;
    this.idx = idx;
    this.count = idx ? idx.length : ms.length;
    this.batch = batch;
  }
  acked(): void {
    if (--this.outstanding === 0 && this.pos === this.count && !this.failed) this.batch.partDone();
  }
  refused(err: TributaryError): void {
    if (this.failed) return;
    this.failed = true;
    this.batch.fail(err);
  }
}

type Pending =
  | { kind: 'mutation'; m: Mutation; prev: number; target: PromiseTarget }
  | { kind: 'control'; c: WireControl; target: AckTarget }
  | { kind: 'batch'; job: BatchJob };

export interface LaneHost {
  readonly log: Logger;
  /** Messages handed to a socket (resends included), in bulk. */
  countSent(n: number): void;
  countAcked(n: number): void;
  countRefused(n: number): void;
  /** Starts (or keeps) this lane connecting. */
  connect(lane: MutationLane): void;
}

export interface LaneOptions {
  ringBytes: number;
  maxInFlight: number;
  maxWaiting: number;
  maxBatchBytes: number;
  flushIntervalMs: number;
}

export class MutationLane {
  readonly index: number;
  readonly ring: ResendRing;
  transport: Transport | undefined;
  guard: PoolGuard | undefined;
  connecting: Promise<void> | undefined;
  everConnected = false;
  /** A failure that will not heal (auth, version, TLS): every send rejects with it. */
  failure: TributaryError | undefined;
  readonly #h: LaneHost;
  readonly #o: LaneOptions;
  #waiters: Waiter[] = [];
  #wHead = 0;
  #pending: Pending[] = [];
  #pHead = 0;
  /** Highest msn handed to the current connection. */
  #sentMsn = 0;
  #writeScheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  #peerMaxFrame = DEFAULT_TRANSPORT_MAX_FRAME_BYTES;

  constructor(index: number, host: LaneHost, options: LaneOptions) {
    this.index = index;
    this.#h = host;
    this.#o = options;
    this.ring = new ResendRing(options.ringBytes, options.maxInFlight);
  }

  /** Unacknowledged messages plus callers waiting for room. */
  get inFlight(): number {
    return this.ring.messages + this.pendingCount;
  }
  get pendingCount(): number {
    let n = 0;
    for (let i = this.#pHead; i < this.#pending.length; i++) {
      const p = this.#pending[i] as Pending;
      n += p.kind === 'batch' ? p.job.count - p.job.pos : 1;
    }
    return n;
  }
  /** Largest message this lane can carry (ring and peer limits). */
  maxMessageBytes(): number {
    return Math.min(this.ring.capacity, this.#peerMaxFrame + TRANSPORT_HEADER_BYTES);
  }

  #ensureConnecting(): void {
    if (this.transport === undefined && this.connecting === undefined) this.#h.connect(this);
  }

  #tooBig(size: number): TributaryError | undefined {
    if (size <= this.maxMessageBytes()) return undefined;
    return new TributaryError(
      'TRIB_INVALID_ARGUMENT',
      `invalid mutation: ${size} bytes encoded; a lane carries at most ${this.maxMessageBytes()} (maxBufferedBytes, the peer's maxFrameBytes)`,
    );
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  sendMutation(m: Mutation, prev: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const big = this.#tooBig(mutationFrameSize(m));
    if (big) return Promise.reject(big);
    this.#ensureConnecting();
    const target = new PromiseTarget();
    const p = new Promise<void>((resolve, reject) => {
      target.resolve = resolve;
      target.reject = reject;
    });
    if (this.#pHead === this.#pending.length && this.#encodeMutation(m, prev, target)) {
      this.#scheduleWrite();
      return p;
    }
    if (this.#pending.length - this.#pHead >= this.#o.maxWaiting)
      return Promise.reject(ErrTransportQueueFull(this.#pending.length - this.#pHead));
    this.#pending.push({ kind: 'mutation', m, prev, target });
    return p;
  }

  sendControl(c: WireControl, target: AckTarget): void {
    if (this.failure) {
      target.refused(this.failure);
      return;
    }
    this.#ensureConnecting();
    if (this.#pHead === this.#pending.length && this.#encodeControl(c, target)) {
      this.#scheduleWrite();
      return;
    }
    if (this.#pending.length - this.#pHead >= this.#o.maxWaiting) {
      target.refused(ErrTransportQueueFull(this.#pending.length - this.#pHead));
      return;
    }
    this.#pending.push({ kind: 'control', c, target });
  }

  controlPromise(c: WireControl): Promise<void> {
    const target = new PromiseTarget();
    const p = new Promise<void>((resolve, reject) => {
      target.resolve = resolve;
      target.reject = reject;
    });
    this.sendControl(c, target);
    return p;
  }

  /** This lane's share of a sendMany() (sizes already checked by the client). */
  sendBatch(
    ms: readonly Mutation[],
    prevs: Float64Array,
    idx: Uint32Array | undefined,
    batch: BatchTarget,
  ): void {
    if (this.failure) {
      batch.fail(this.failure);
      return;
    }
    this.#ensureConnecting();
    const job = new BatchJob(ms, prevs, idx, batch);
    if (this.#pHead === this.#pending.length) {
      const done = this.#encodeBatch(job);
      this.#scheduleWrite();
      if (done) return;
    } else if (this.#pending.length - this.#pHead >= this.#o.maxWaiting) {
      batch.fail(ErrTransportQueueFull(this.#pending.length - this.#pHead));
      return;
    }
    this.#pending.push({ kind: 'batch', job });
  }

  #encodeMutation(m: Mutation, prev: number, target: AckTarget): boolean {
    const r = this.ring;
    const o = r.reserve(mutationFrameSize(m));
    if (o < 0) return false;
    const msn = r.commit(writeMutationFrame(r.buf, r.view, o, r.nextMsn, prev, m));
    this.#waiters.push({ first: msn, last: msn, target });
    return true;
  }

  #encodeControl(c: WireControl, target: AckTarget): boolean {
    const r = this.ring;
    const o = r.reserve(CONTROL_FRAME_BYTES);
    if (o < 0) return false;
    c.msn = r.nextMsn;
    const msn = r.commit(writeControlFrame(r.buf, r.view, o, c));
    this.#waiters.push({ first: msn, last: msn, target });
    return true;
  }

  /** Encodes as much of `job` as fits; true when all of it is in the ring. */
  #encodeBatch(job: BatchJob): boolean {
    const r = this.ring;
    const { ms, prevs, idx, count } = job;
    const buf = r.buf;
    const view = r.view;
    const first = r.nextMsn;
    let pos = job.pos;
    while (pos < count) {
      const i = idx ? (idx[pos] as number) : pos;
      const m = ms[i] as Mutation;
      const o = r.reserve(mutationFrameSize(m));
      if (o < 0) break;
      r.commit(writeMutationFrame(buf, view, o, r.nextMsn, prevs[i] as number, m));
      pos++;
    }
    if (pos > job.pos) {
      job.pos = pos;
      job.outstanding++;
      this.#waiters.push({ first, last: r.nextMsn - 1, target: job });
    }
    return pos === count;
  }

  /** Room freed: encode waiting callers in order. */
  #admit(): boolean {
    let any = false;
    while (this.#pHead < this.#pending.length) {
      const p = this.#pending[this.#pHead] as Pending;
      if (p.kind === 'mutation') {
        if (!this.#encodeMutation(p.m, p.prev, p.target)) break;
      } else if (p.kind === 'control') {
        if (!this.#encodeControl(p.c, p.target)) break;
      } else {
        const before = p.job.pos;
        const done = this.#encodeBatch(p.job);
        if (p.job.pos > before) any = true;
        if (!done) break;
      }
      any = true;
      this.#pending[this.#pHead++] = undefined as unknown as Pending;
    }
    if (this.#pHead > 1024 && this.#pHead * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#pHead);
      this.#pHead = 0;
    }
    return any;
  }

  #scheduleWrite(): void {
    if (this.ring.unsent >= this.#o.maxBatchBytes) {
      this.write();
      return;
    }
    if (this.#writeScheduled !== undefined) return;
    const ms = this.#o.flushIntervalMs;
    this.#writeScheduled = ms > 0 ? setTimeout(this.#timedWrite, ms) : setImmediate(this.#timedWrite);
  }

  #timedWrite = (): void => {
    this.#writeScheduled = undefined;
    this.write();
  };

  /** Hands every encoded, unsent frame to the connection (views of the ring, no copy). */
  write(): void {
    const t = this.transport;
    if (t === undefined || !t.isReady) return;
    const r = this.ring;
    const frames = r.nextMsn - 1 - this.#sentMsn;
    if (frames <= 0) return;
    // At most two spans: before and after the ring's padding (a wrap is rare: one more write).
    const chunk = r.nextUnsent();
    if (chunk === undefined) return;
    const second = r.nextUnsent();
    if (second === undefined) t._writeFrames(chunk, frames);
    else {
      t._writeFrames(chunk, 0);
      t._writeFrames(second, frames);
    }
    this.#sentMsn = r.nextMsn - 1;
    this.#h.countSent(frames);
  }

  // ---------------------------------------------------------------------------------------
  // Acknowledgements

  onAck(msn: number): void {
    const acked = this.ring.ack(msn);
    if (acked === 0) return;
    this.#h.countAcked(acked);
    const w = this.#waiters;
    while (this.#wHead < w.length) {
      const x = w[this.#wHead] as Waiter;
      if (x.last > msn) break;
      w[this.#wHead++] = undefined as unknown as Waiter;
      x.target.acked();
    }
    if (this.#wHead > 4096 && this.#wHead * 2 > w.length) {
      this.#waiters = w.slice(this.#wHead);
      this.#wHead = 0;
    }
    if (this.#admit()) this.#scheduleWrite();
  }

  onNack(msn: number, code: string, message: string): void {
    this.#h.countRefused(1);
    const err = new TributaryError(/^TRIB_[A-Z0-9_]+$/.test(code) ? code : 'TRIB_MSTREAM_REFUSED', message);
    // Waiters are in msn order: binary search for the one holding msn.
    const w = this.#waiters;
    let lo = this.#wHead;
    let hi = w.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const x = w[mid] as Waiter;
      if (x.last < msn) lo = mid + 1;
      else if (x.first > msn) hi = mid - 1;
      else {
        x.target.refused(err);
        return;
      }
    }
  }

  /** Settles once everything encoded so far is acknowledged (or the lane fails). */
  whenAcked(): Promise<void> | undefined {
    const last = this.ring.nextMsn - 1;
    if (last < this.ring.firstMsn) return undefined;
    return new Promise<void>((resolve) => {
      this.#waiters.push({ first: last, last, target: { acked: resolve, refused: () => resolve() } });
    });
  }

  // ---------------------------------------------------------------------------------------
  // Connections

  /** A new connection is ready: everything unacknowledged goes again, in order. */
  attach(t: Transport, guard: PoolGuard): number {
    this.transport = t;
    this.guard = guard;
    this.#peerMaxFrame = t._peerMaxFrame;
    const resend = this.#sentMsn - (this.ring.firstMsn - 1);
    this.ring.rewind();
    this.#sentMsn = this.ring.firstMsn - 1;
    this.everConnected = true;
    this.write();
    return Math.max(resend, 0);
  }

  /** The connection `t` is gone; true when it was this lane's current one. */
  detach(t: Transport): boolean {
    if (this.transport !== t) return false;
    this.transport = undefined;
    const g = this.guard;
    this.guard = undefined;
    if (g && !g.done) g.destroy('mutation stream connection lost');
    return true;
  }

  /** Rejects everything held and waiting with `err`; the ring is emptied. */
  failAll(err: unknown): void {
    const e = err instanceof TributaryError ? err : new TributaryError('TRIB_MSTREAM_CLOSED', String(err));
    const w = this.#waiters;
    const from = this.#wHead;
    this.#waiters = [];
    this.#wHead = 0;
    for (let i = from; i < w.length; i++) (w[i] as Waiter).target.refused(e);
    const p = this.#pending;
    const pFrom = this.#pHead;
    this.#pending = [];
    this.#pHead = 0;
    for (let i = pFrom; i < p.length; i++) {
      const x = p[i] as Pending;
      if (x.kind === 'batch') x.job.refused(e);
      else x.target.refused(e);
    }
    this.ring.clear();
    this.#sentMsn = this.ring.firstMsn - 1;
    if (this.#writeScheduled !== undefined) {
      clearTimeout(this.#writeScheduled as NodeJS.Timeout);
      clearImmediate(this.#writeScheduled as NodeJS.Immediate);
      this.#writeScheduled = undefined;
    }
  }
}
