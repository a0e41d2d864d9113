// The write side of a transport: frames are packed into a batch buffer and written when it is
// full, after flushIntervalMs, or at once on request; while the socket holds maxQueueBytes
// unwritten, senders wait (FIFO, at most maxWaiters) for 'drain'.
import {
  DEFAULT_TRANSPORT_MAX_FRAME_BYTES,
  type FrameKind,
  TRANSPORT_HEADER_BYTES,
  writeTransportFrame,
} from '@tributary/codec';
import { type Connection, ErrInvalidArgument, type Logger, type TributaryError } from '@tributary/core';
import { ErrTransportQueueFull } from './errors.js';
import type { TransportCounters } from './internal/transport-counters.js';
import type { TransportSettings } from './transport-settings.js';

interface Waiting {
  kind: FrameKind;
  flags: number;
  messageId: number;
  opaque: number;
  payload: Uint8Array;
  flush: boolean;
  resolve(): void;
  reject(e: unknown): void;
}

export interface FlusherHost {
  readonly connection: Connection;
  readonly settings: Readonly<TransportSettings>;
  readonly counters: TransportCounters;
  readonly log: Logger;
  readonly trace: boolean;
  /** The error sends fail with once the transport is closed; undefined while it is open. */
  closedError(): TributaryError | undefined;
}

const RESOLVED: Promise<void> = Promise.resolve();
const NOOP = (): void => {};

export class Flusher {
  /** Largest payload the peer accepts (from its hello). */
  peerMaxFrame = DEFAULT_TRANSPORT_MAX_FRAME_BYTES;
  readonly #h: FlusherHost;
  readonly #conn: Connection;
  readonly #maxQueue: number;
  readonly #maxBatch: number;
  #batch: Buffer;
  #batchLen = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;
  #waiting: Waiting[] = [];
  #drainHooked = false;

  constructor(host: FlusherHost) {
    this.#h = host;
    this.#conn = host.connection;
    this.#maxQueue = host.settings.maxQueueBytes;
    this.#maxBatch = host.settings.maxBatchBytes;
    this.#batch = Buffer.allocUnsafe(this.#maxBatch);
  }

  /** True when a send would not have to wait. */
  get writable(): boolean {
    return this.#waiting.length === 0 && this.#conn.writableLength < this.#maxQueue;
  }

  /** A frame with back-pressure: waits (FIFO) while the queue is full. */
  send(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): Promise<void> {
    const closed = this.#h.closedError();
    if (closed) return Promise.reject(closed);
    if (payload.length > this.peerMaxFrame)
      return Promise.reject(
        ErrInvalidArgument(
          'message',
          `${payload.length} bytes encoded; the peer accepts at most ${this.peerMaxFrame}`,
        ),
      );
    if (this.#waiting.length === 0 && this.#conn.writableLength < this.#maxQueue) {
      this.writeFrame(kind, flags, messageId, opaque, payload, flush);
      return RESOLVED;
    }
    if (this.#waiting.length >= this.#h.settings.maxWaiters)
      return Promise.reject(ErrTransportQueueFull(this.#waiting.length));
    this.#h.counters.count('senderWaits');
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ kind, flags, messageId, opaque, payload, flush, resolve, reject });
      this.#hookDrain();
    });
  }

  /** Control frames (replies, stream ends): never wait, bounded by the peer's own requests. */
  sendNoWait(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): void {
    if (this.#h.closedError()) return;
    if (this.#waiting.length > 0) {
      // Keep order behind waiting senders.
      this.#waiting.push({ kind, flags, messageId, opaque, payload, flush, resolve: NOOP, reject: NOOP });
      this.#hookDrain();
      return;
    }
    this.writeFrame(kind, flags, messageId, opaque, payload, flush);
  }

  /** Rejects every waiting sender (the transport closed). */
  failWaiters(err: unknown): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.reject(err);
  }

  #hookDrain(): void {
    if (this.#drainHooked) return;
    this.#drainHooked = true;
    // The queue is over maxQueueBytes (> highWaterMark), so a write returned false and 'drain' will come.
    this.flush();
    this.#conn.once('drain', this.#onDrain);
  }

  #onDrain = (): void => {
    this.#drainHooked = false;
    const w = this.#waiting;
    let i = 0;
    while (i < w.length && !this.#h.closedError() && this.#conn.writableLength < this.#maxQueue) {
      const x = w[i++] as Waiting;
      this.writeFrame(x.kind, x.flags, x.messageId, x.opaque, x.payload, x.flush);
      x.resolve();
    }
    this.#waiting = i === w.length ? [] : w.slice(i);
    if (this.#waiting.length > 0) this.#hookDrain();
  };

  /** Puts one frame into the batch (or writes it alone when it is bigger than the batch). */
  writeFrame(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): void {
    const size = TRANSPORT_HEADER_BYTES + payload.length;
    const cap = this.#batch.length;
    if (this.#batchLen + size > cap) this.flush();
    if (size > cap) {
      const big = Buffer.allocUnsafe(size);
      writeTransportFrame(big, 0, kind, flags, messageId, opaque, payload);
      this.#h.counters.count('flushes');
      this.#h.counters.count('bytesOut', size);
      this.#conn.write(big);
    } else {
      this.#batchLen = writeTransportFrame(
        this.#batch,
        this.#batchLen,
        kind,
        flags,
        messageId,
        opaque,
        payload,
      );
      if (this.#batchLen === cap) this.flush();
    }
    this.#h.counters.n.framesOut++; // reported to the shared registry per flush, not per frame
    if (this.#h.trace) this.#h.log.trace({ kind, messageId, opaque, bytes: payload.length }, 'frame out');
    if (flush) this.flush();
    else if (this.#batchLen > 0) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#flushImmediate !== undefined) return;
    const ms = this.#h.settings.flushIntervalMs;
    if (ms > 0) this.#flushTimer = setTimeout(this.#timedFlush, ms);
    else this.#flushImmediate = setImmediate(this.#timedFlush);
  }

  #timedFlush = (): void => {
    this.#flushTimer = undefined;
    this.#flushImmediate = undefined;
    this.flush();
  };

  /** Writes the batch now. */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#flushImmediate !== undefined) {
      clearImmediate(this.#flushImmediate);
      this.#flushImmediate = undefined;
    }
    const n = this.#batchLen;
    if (n === 0 || this.#conn.destroyed) {
      this.#batchLen = 0;
      return;
    }
    let out: Buffer;
    if (n <= 4096) {
      // Small: copy out and keep the big buffer.
      out = Buffer.allocUnsafe(n);
      this.#batch.copy(out, 0, 0, n);
    } else {
      out = this.#batch.subarray(0, n);
      this.#batch = Buffer.allocUnsafe(this.#maxBatch);
    }
    this.#batchLen = 0;
    this.#h.counters.count('flushes');
    this.#h.counters.count('bytesOut', n);
    this.#h.counters.syncFrames();
    this.#conn.write(out);
  }

  /**
   * Writes bytes that are already whole frames (`frames` of them), after what is batched, with
   * no copy: the caller keeps `bytes` unchanged until the peer has them (the mutation stream's
   * resend ring). Returns what the socket's write returned (false: over its high-water mark).
   */
  writeFrames(bytes: Buffer, frames: number): boolean {
    this.flush();
    const c = this.#h.counters;
    c.count('flushes');
    c.count('bytesOut', bytes.length);
    c.n.framesOut += frames;
    c.syncFrames();
    return this.#conn.write(bytes);
  }
}
