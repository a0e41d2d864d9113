import { ErrAborted } from '@tributary/core';
import { ErrStreamsExhausted } from '../errors.js';

interface Waiter {
  resolve(id: number): void;
  reject(err: unknown): void;
}

/** Ids in [start, end): fresh ones handed out lazily, released ones reused LIFO. */
export class OpaquePool {
  readonly start: number;
  readonly end: number;
  #next: number;
  #free: number[] = [];
  #waiters: Waiter[] = [];
  readonly maxWaiters: number;

  constructor(start: number, end: number, maxWaiters: number) {
    this.start = start;
    this.end = end;
    this.#next = start;
    this.maxWaiters = maxWaiters;
  }

  get inUse(): number {
    return this.#next - this.start - this.#free.length;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  tryAcquire(): number | undefined {
    const id = this.#free.pop();
    if (id !== undefined) return id;
    if (this.#next < this.end) return this.#next++;
    return undefined;
  }

  /** Waits for an id (FIFO) or fails at once with TRIB_STREAMS_EXHAUSTED when `wait` is false. */
  acquire(wait: boolean, signal?: AbortSignal): number | Promise<number> {
    if (this.#waiters.length === 0) {
      const id = this.tryAcquire();
      if (id !== undefined) return id;
    }
    if (!wait || this.#waiters.length >= this.maxWaiters) throw ErrStreamsExhausted(this.start, this.end);
    if (signal?.aborted) throw ErrAborted('waiting for a stream id', { cause: signal.reason });
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(ErrAborted('waiting for a stream id', { cause: signal?.reason }));
      };
      const waiter: Waiter = {
        resolve: (id) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(id);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(id: number): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(id);
    else this.#free.push(id);
  }

  failWaiters(err: unknown): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.reject(err);
  }
}
