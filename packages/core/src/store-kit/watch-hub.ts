import { ErrStoreWatchOverflow } from '../errors.js';
import { asBuffer, hasPrefix } from './keys.js';

/**
 * The iterable `watch()` returns. `ready` resolves once the backend delivers writes to it (at once
 * in process; after SUBSCRIBE / LISTEN for Redis and Postgres).
 */
export interface WatchIterable extends AsyncIterable<Uint8Array> {
  readonly ready: Promise<void>;
}

interface Watcher {
  prefix: Buffer;
  /** Pending keys, deduplicated (latin1 id → key), in first-seen order. */
  pending: Map<string, Buffer>;
  wake: (() => void) | undefined;
  done: boolean;
  error: unknown;
}

/**
 * Fans written keys out to in-process watchers. Memory stays bounded: a watcher keeps each
 * pending key once, and one that falls `maxPending` distinct keys behind ends with
 * TRIB_STORE_WATCH_OVERFLOW instead of growing without bound.
 */
export class WatchHub {
  readonly #watchers = new Set<Watcher>();
  readonly #store: string;
  readonly #maxPending: number;

  constructor(store: string, maxPending = 10_000) {
    this.#store = store;
    this.#maxPending = maxPending;
  }

  get size(): number {
    return this.#watchers.size;
  }

  publish(keys: Iterable<Buffer>): void {
    if (this.#watchers.size === 0) return;
    for (const key of keys) {
      for (const w of this.#watchers) {
        if (w.done || !hasPrefix(key, w.prefix)) continue;
        const id = key.toString('latin1');
        if (!w.pending.has(id)) {
          if (w.pending.size >= this.#maxPending) {
            this.#finish(w, ErrStoreWatchOverflow(this.#store, this.#maxPending));
            continue;
          }
          w.pending.set(id, Buffer.from(key));
        }
        const wake = w.wake;
        w.wake = undefined;
        wake?.();
      }
    }
  }

  /** Registers at once (so writes from now on are seen) and returns the iterable. */
  watch(
    prefix: Uint8Array,
    signal: AbortSignal | undefined,
    ready: Promise<void> = Promise.resolve(),
  ): WatchIterable {
    const w: Watcher = {
      prefix: Buffer.from(asBuffer(prefix)),
      pending: new Map(),
      wake: undefined,
      done: false,
      error: undefined,
    };
    const onAbort = () => this.#finish(w, undefined);
    if (signal?.aborted) w.done = true;
    else {
      this.#watchers.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    const cleanup = () => {
      this.#watchers.delete(w);
      signal?.removeEventListener('abort', onAbort);
    };
    const iterator: AsyncIterator<Uint8Array> = {
      next: async () => {
        for (;;) {
          const first = w.pending.entries().next();
          if (!first.done) {
            w.pending.delete(first.value[0]);
            return { done: false, value: first.value[1] };
          }
          if (w.done) {
            cleanup();
            if (w.error !== undefined) {
              const err = w.error;
              w.error = undefined;
              throw err;
            }
            return { done: true, value: undefined };
          }
          await new Promise<void>((resolve) => {
            w.wake = resolve;
          });
        }
      },
      return: async () => {
        w.done = true;
        w.pending.clear();
        cleanup();
        const wake = w.wake;
        w.wake = undefined;
        wake?.();
        return { done: true, value: undefined };
      },
    };
    return { ready, [Symbol.asyncIterator]: () => iterator };
  }

  /** Ends every watcher (store closed), or fails them with `error`. */
  closeAll(error?: unknown): void {
    for (const w of [...this.#watchers]) this.#finish(w, error);
  }

  #finish(w: Watcher, error: unknown): void {
    if (w.done) return;
    w.done = true;
    w.error = error;
    if (error !== undefined) w.pending.clear();
    this.#watchers.delete(w);
    const wake = w.wake;
    w.wake = undefined;
    wake?.();
  }
}
