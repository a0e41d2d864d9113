import path from 'node:path';
import {
  type BatchOp,
  checkKey,
  checkOps,
  componentLogger,
  ErrAborted,
  ErrStoreClosed,
  ErrStoreUnavailable,
  isTributaryError,
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
import { open, type RootDatabase } from 'lmdb';

export interface LmdbStoreOptions {
  /** Directory of the LMDB environment (created when missing). */
  path: string;
  /** Skip fsync on commit: faster, and a machine crash (not a process crash) may lose the last commits. */
  noSync?: boolean;
  /** Initial map size in bytes (LMDB grows it as needed). */
  mapSize?: number;
  /** Entries a scan reads per read transaction (default 1,024). */
  scanPageSize?: number;
  /** Distinct keys a watcher may fall behind before it ends with TRIB_STORE_WATCH_OVERFLOW (default 10,000). */
  maxWatchPending?: number;
  logger?: Logger;
  metrics?: MetricsInput;
}

/**
 * Values as stored bytes, read out through a copy into Node's pooled buffers. lmdb hands a decoder
 * its shared read buffer with `length` set to the value's size (a decoder that copies may use it
 * so); lmdb's own `binary` encoding instead slices a fresh ArrayBuffer per value, which costs
 * several times the copy and dominated scans. Writes pass the caller's bytes through unchanged.
 */
const valueCodec = {
  encode: (value: Buffer): Buffer => value,
  decode(bytes: Uint8Array): Buffer {
    const size = bytes.length;
    const out = Buffer.allocUnsafe(size);
    out.set(size === bytes.byteLength ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, size));
    return out;
  },
};

/** Watchers per environment path, shared by every instance in this process. */
/**
 * Per path in this process: the watch hub, and a count of commits. lmdb keeps one read snapshot
 * per environment until its next timer turn and renews it only after its own commits, so a store
 * that sees another store's commit count move resets its snapshot before reading (one integer
 * compare per read when nothing moved).
 */
interface PathEntry {
  hub: WatchHub;
  refs: number;
  commits: number;
}
const hubs = new Map<string, PathEntry>();

/**
 * The `Store` contract over LMDB (the `lmdb` package): binary keys in bytewise order, each batch
 * in one write transaction (atomic and durable once the promise resolves, even if the process is
 * killed mid-batch), scans in pages of short read transactions, watch in process.
 */
export class LmdbStore implements Store {
  readonly name = 'lmdb';
  readonly path: string;
  readonly #options: LmdbStoreOptions;
  readonly #log: Logger;
  readonly #counters: StoreCounters;
  readonly #pageSize: number;
  readonly #hub: WatchHub;
  readonly #entry: PathEntry;
  #seenCommits = 0;
  readonly #closeController = new AbortController();
  #db: RootDatabase<Buffer, Buffer> | undefined;
  #closed = false;

  constructor(options: LmdbStoreOptions) {
    this.#options = options;
    this.path = path.resolve(options.path);
    this.#log = componentLogger(options.logger, 'store-lmdb', { path: this.path });
    this.#counters = new StoreCounters(metricsScope(options.metrics, 'store', { store: 'lmdb' }));
    this.#pageSize = options.scanPageSize ?? 1024;
    let entry = hubs.get(this.path);
    if (!entry)
      hubs.set(
        this.path,
        (entry = { hub: new WatchHub('lmdb', options.maxWatchPending), refs: 0, commits: 0 }),
      );
    entry.refs++;
    this.#entry = entry;
    this.#seenCommits = entry.commits;
    this.#hub = entry.hub;
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const db = this.#open();
    const k = checkKey(key);
    this.#counters.gets.inc();
    this.#fresh(db);
    return this.#call('get', () => db.get(k));
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const db = this.#open();
    const ks = keys.map((k, i) => checkKey(k, `keys[${i}]`));
    this.#counters.gets.inc(ks.length);
    // one synchronous pass: lmdb serves it from one read transaction (renewed only between event
    // turns and after commits), so the values come from one consistent snapshot
    this.#fresh(db);
    return this.#call('getMany', () => ks.map((k) => db.get(k)));
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    const db = this.#open();
    const t0 = performance.now();
    const checked = checkOps(ops);
    if (checked.length === 0) return;
    let puts = 0;
    // lmdb's batch() queues the ops as one block that its write thread applies in a single
    // transaction (all or none); this thread only encodes them. transaction() ran every put on
    // this thread inside the writer's transaction: a B-tree insert per op where the index's own
    // work runs.
    await this.#callAsync('batch', () =>
      db.batch(() => {
        for (const op of checked) {
          if (op.type === 'put') {
            db.put(op.key, op.value!);
            puts++;
          } else db.remove(op.key);
        }
      }),
    );
    this.#seenCommits = ++this.#entry.commits; // our own environment renews by itself
    this.#counters.batches.inc();
    this.#counters.batchSeconds.observe((performance.now() - t0) / 1000);
    this.#counters.puts.inc(puts);
    this.#counters.dels.inc(checked.length - puts);
    if (this.#log.isLevelEnabled('trace')) this.#log.trace({ ops: checked.length }, 'batch');
    if (this.#hub.size > 0) this.#hub.publish(checked.map((op) => op.key));
  }

  /** Errors (closed store, bad options, LMDB failures) surface from the iteration. */
  scan(options: ScanOptions = {}): AsyncIterable<StoreEntry> {
    return pagedScan(() => {
      this.#open();
      const range = toRange(options);
      this.#counters.scans.inc();
      let left = range.empty ? 0 : range.limit;
      let after: Buffer | undefined;
      return () => {
        if (left <= 0) return null;
        const db = this.#open();
        const want = Math.min(left, this.#pageSize);
        const o: Record<string, unknown> = { limit: want };
        if (!range.reverse) {
          if (after !== undefined) {
            o.start = after;
            o.exclusiveStart = true;
          } else if (range.gte !== undefined) o.start = range.gte;
          if (range.lt !== undefined) o.end = range.lt;
        } else {
          o.reverse = true;
          const start = after ?? range.lt;
          if (start !== undefined) {
            o.start = start;
            o.exclusiveStart = true;
          }
          // lmdb's reverse default end would skip the key 0x00: the empty key is below everything
          o.end = range.gte ?? Buffer.alloc(0);
          o.inclusiveEnd = range.gte !== undefined;
        }
        this.#fresh(db);
        const page = this.#call('scan', () => {
          const rows: StoreEntry[] = [];
          for (const entry of db.getRange(o)) rows.push(entry);
          return rows;
        });
        if (page.length === 0) return null;
        left = page.length < want ? 0 : left - page.length;
        after = page[page.length - 1]!.key as Buffer;
        this.#counters.scannedRows.inc(page.length);
        return page;
      };
    });
  }

  /** Keys written under `prefix` by any LmdbStore on this path in this process. */
  watch(prefix: Uint8Array, options: WatchOptions = {}): WatchIterable {
    this.#open();
    if (options.signal?.aborted) throw ErrAborted('watch', { cause: options.signal.reason });
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closeController.signal])
      : this.#closeController.signal;
    const iterable = this.#hub.watch(prefix, signal);
    this.#counters.watchers.set(this.#hub.size);
    return iterable;
  }

  stats(): StoreStats {
    this.#counters.watchers.set(this.#hub.size);
    return this.#counters.snapshot();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeController.abort();
    const entry = hubs.get(this.path);
    if (entry && --entry.refs === 0) hubs.delete(this.path);
    const db = this.#db;
    this.#db = undefined;
    if (db) await db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The open database; opened on first use so a bad path surfaces as TRIB_STORE_UNAVAILABLE. */
  #open(): RootDatabase<Buffer, Buffer> {
    if (this.#closed) throw ErrStoreClosed(this.name);
    if (this.#db) return this.#db;
    try {
      this.#db = open<Buffer, Buffer>({
        path: this.path,
        keyEncoding: 'binary',
        encoding: 'binary',
        encoder: valueCodec,
        noSync: this.#options.noSync ?? false,
        ...(this.#options.mapSize ? { mapSize: this.#options.mapSize } : {}),
      });
    } catch (err) {
      throw this.#unavailable('open', err);
    }
    this.#log.debug('opened');
    return this.#db;
  }

  /** Drops a read snapshot older than another same-path store's latest commit. */
  #fresh(db: RootDatabase<Buffer, Buffer>): void {
    if (this.#entry.commits === this.#seenCommits) return;
    this.#seenCommits = this.#entry.commits;
    db.resetReadTxn();
  }

  #call<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (err) {
      throw this.#unavailable(what, err);
    }
  }

  async #callAsync<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw this.#unavailable(what, err);
    }
  }

  #unavailable(what: string, err: unknown): unknown {
    if (isTributaryError(err)) return err;
    this.#counters.errors.inc();
    this.#log.warn({ err, op: what }, 'lmdb operation failed');
    return ErrStoreUnavailable(this.name, `${what} failed: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  }
}

export function createLmdbStore(options: LmdbStoreOptions): LmdbStore {
  return new LmdbStore(options);
}
