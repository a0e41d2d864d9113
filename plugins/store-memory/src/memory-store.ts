import {
  asBuffer,
  type BatchOp,
  checkKey,
  checkOps,
  componentLogger,
  ErrAborted,
  ErrStoreClosed,
  type Logger,
  type MetricsInput,
  metricsScope,
  pagedScan,
  type ScanOptions,
  type Store,
  StoreCounters,
  type StoreEntry,
  type StoreStats,
  toRange,
  WatchHub,
  type WatchIterable,
  type WatchOptions,
} from '@tributary/core';
import { BTree } from './internal/b-tree.js';

/** The shared state behind one or more memory store instances (what "the same backend" means here). */
export interface MemoryBackend {
  readonly data: BTree;
  readonly hub: WatchHub;
}

export function createMemoryBackend(options: { maxWatchPending?: number } = {}): MemoryBackend {
  return { data: new BTree(), hub: new WatchHub('memory', options.maxWatchPending) };
}

export interface MemoryStoreOptions {
  /** Share data and watchers with other instances; a fresh backend when omitted. */
  backend?: MemoryBackend;
  /** Entries a scan copies out per step (default 256). */
  scanPageSize?: number;
  /** A scan step stops early once the values it copied reach this many bytes (default 4 MiB). */
  scanPageBytes?: number;
  /** Distinct keys a watcher may fall behind before it ends with TRIB_STORE_WATCH_OVERFLOW (default 10,000). */
  maxWatchPending?: number;
  logger?: Logger;
  metrics?: MetricsInput;
}

const copy = (b: Buffer): Buffer => Buffer.from(b);
/** The tree hands out a new key buffer per row already; the value is the stored one. */
const entryCopy = (key: Buffer, value: Buffer): StoreEntry => ({ key, value: copy(value) });

/**
 * Ordered in-process store over a B+tree. Keys and values are copied in and out, so callers
 * may reuse their buffers. Batches apply synchronously, so they are atomic and isolated.
 */
export class MemoryStore implements Store {
  readonly name = 'memory';
  readonly backend: MemoryBackend;
  readonly #log: Logger;
  readonly #counters: StoreCounters;
  readonly #pageSize: number;
  readonly #pageBytes: number;
  readonly #closeController = new AbortController();
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.backend = options.backend ?? createMemoryBackend({ maxWatchPending: options.maxWatchPending });
    this.#log = componentLogger(options.logger, 'store-memory');
    this.#counters = new StoreCounters(metricsScope(options.metrics, 'store', { store: 'memory' }));
    this.#pageSize = options.scanPageSize ?? 256;
    this.#pageBytes = options.scanPageBytes ?? 4 * 1024 * 1024;
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#open();
    const k = checkKey(key);
    this.#counters.gets.inc();
    const v = this.backend.data.get(k);
    return v === undefined ? undefined : copy(v);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    const ks = keys.map((k, i) => checkKey(k, `keys[${i}]`));
    this.#counters.gets.inc(ks.length);
    return ks.map((k) => {
      const v = this.backend.data.get(k);
      return v === undefined ? undefined : copy(v);
    });
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#open();
    const t0 = performance.now();
    const checked = checkOps(ops);
    const data = this.backend.data;
    let puts = 0;
    for (const op of checked) {
      if (op.type === 'put') {
        // the tree keeps the key as a string of its bytes, so only the value needs a copy
        data.set(op.key, copy(op.value!));
        puts++;
      } else data.delete(op.key);
    }
    this.#counters.batches.inc();
    this.#counters.batchSeconds.observe((performance.now() - t0) / 1000);
    this.#counters.puts.inc(puts);
    this.#counters.dels.inc(checked.length - puts);
    if (this.#log.isLevelEnabled('trace')) this.#log.trace({ ops: checked.length }, 'batch');
    if (this.backend.hub.size > 0) this.backend.hub.publish(checked.map((op) => op.key));
  }

  /** Errors (closed store, bad options) surface from the iteration, like a backend's would. */
  scan(options: ScanOptions = {}): AsyncIterable<StoreEntry> {
    return pagedScan(() => {
      this.#open();
      const range = toRange(options);
      this.#counters.scans.inc();
      let left = range.empty ? 0 : range.limit;
      let after: Buffer | undefined;
      return () => {
        if (left <= 0) return null;
        this.#open();
        // copies straight out of the tree's leaves (one entry and two buffers per row), at most
        // scanPageSize rows and about scanPageBytes of values per step
        const page = this.backend.data.page(
          range.gte,
          range.lt,
          range.reverse,
          Math.min(left, this.#pageSize),
          after,
          this.#pageBytes,
          entryCopy,
        );
        if (page.length === 0) return null;
        left -= page.length;
        after = page[page.length - 1]!.key as Buffer;
        this.#counters.scannedRows.inc(page.length);
        return page;
      };
    });
  }

  watch(prefix: Uint8Array, options: WatchOptions = {}): WatchIterable {
    this.#open();
    if (options.signal?.aborted) throw ErrAborted('watch', { cause: options.signal.reason });
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closeController.signal])
      : this.#closeController.signal;
    const iterable = this.backend.hub.watch(asBuffer(prefix), signal);
    this.#counters.watchers.set(this.backend.hub.size);
    return iterable;
  }

  stats(): StoreStats {
    this.#counters.watchers.set(this.backend.hub.size);
    return this.#counters.snapshot();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeController.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #open(): void {
    if (this.#closed) throw ErrStoreClosed(this.name);
  }
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options);
}
