/** One write in an atomic batch. Keys and values are bytes; keys compare bytewise. */
export type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

export interface ScanOptions {
  /** Inclusive lower bound. */
  gte?: Uint8Array;
  /** Exclusive upper bound. */
  lt?: Uint8Array;
  /** Only keys starting with these bytes (combined with gte/lt when both are given). */
  prefix?: Uint8Array;
  limit?: number;
  reverse?: boolean;
}

export interface StoreEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface WatchOptions {
  signal?: AbortSignal;
}

/**
 * Ordered binary key/value store. Every method rejects with TRIB_STORE_UNAVAILABLE (cause
 * attached) when the backend cannot be reached and TRIB_STORE_CLOSED after close().
 */
export interface Store {
  readonly name: string;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /** Applies every op or none. */
  batch(ops: readonly BatchOp[]): Promise<void>;
  /** Entries in bytewise key order (reverse when asked). */
  scan(options?: ScanOptions): AsyncIterable<StoreEntry>;
  /**
   * Keys written (put or deleted) under `prefix`, by this or any other store instance on the same
   * backend, from the moment the iterator is created. Ends when the signal aborts or the store closes.
   */
  watch?(prefix: Uint8Array, options?: WatchOptions): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}
