import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BatchOp,
  componentLogger,
  ErrAborted,
  ErrInvalidArgument,
  isTributaryError,
  type Logger,
  type Store,
} from '@tributary/core';
import { createStoreCheckpoints } from '@tributary/datasource';
import { createMetrics, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import {
  ErrBadChannel,
  ErrChannelIndexClosed,
  ErrChannelIndexFailed,
  ErrChannelIndexReadOnly,
} from './errors.js';
import { decodeClock, encodeClock, Keys } from './internal/keys.js';
import { Lru } from './internal/lru.js';
import {
  type BlockEntry,
  type ChannelMembership,
  type DocRecord,
  decodeDoc,
  decodeEntries,
  EntryState,
  encodeDoc,
  encodeEntries,
  truncateBlock,
} from './internal/records.js';
import { decodeSince, encodeSince, type VectorClock } from './since-token.js';

/** What channelsOf sees besides the key and the parsed body. */
export interface DocMeta {
  vbucket: number;
  seqno: number;
  cas: bigint;
  flags: number;
  expiry: number;
  revSeqno?: number | undefined;
  datatype?: number | undefined;
  xattrs?: Record<string, string> | undefined;
  /** The raw value bytes (the body channelsOf gets is this parsed as JSON, or undefined). */
  value: Buffer;
}

/** Maps a document to the channels it belongs to (Sync Gateway's sync function, reduced). */
export type ChannelsOf = (
  key: string,
  doc: unknown,
  meta: DocMeta,
) => string | readonly string[] | undefined | null;

/** The default mapping: the document's `channels` field, a string or an array of strings. */
export const defaultChannelsOf: ChannelsOf = (_key, doc) => {
  if (doc === null || typeof doc !== 'object') return undefined;
  const c = (doc as { channels?: unknown }).channels;
  if (typeof c === 'string') return [c];
  if (Array.isArray(c)) return c.filter((x): x is string => typeof x === 'string');
  return undefined;
};

/** The request details a datasource passes with a mutation (structurally the datasource's own type). */
export interface ReceiverRequest {
  cas: bigint;
  flags: number;
  expiry: number;
  revSeqno: number;
  datatype: number;
  value: Buffer;
  xattrs?: Record<string, string> | undefined;
  deleteTime?: number | undefined;
  vbucketUuid?: bigint | undefined;
}

/** One mutation from a mutation stream (structurally @tributary/transport's Mutation). */
export interface StreamMutation {
  vbucket: number;
  seqno: number;
  vbuuid?: bigint;
  key: Buffer | Uint8Array;
  value: Buffer | Uint8Array;
  kind: 'mutation' | 'deletion' | 'expiration';
  cas: bigint;
  flags: number;
  expiry: number;
}

/**
 * The datasource's own checkpoint records (createStoreCheckpoints' layout, so its tools read them),
 * written through checkpointOps in the index's batches.
 */
function datasourceCheckpoints(store: Store, prefix: string): CheckpointWriter {
  const ck = createStoreCheckpoints(store, { prefix });
  return {
    ops: (vb, value, lastSeq) => ck.checkpointOps(vb, value, lastSeq),
    read: async (_store, vb) => (await ck.getMetaData(vb)).value,
  };
}

export interface CheckpointWriter {
  /** Store writes that record datasource metadata for `vb` (e.g. @tributary/datasource's checkpointOps). */
  ops(vb: number, value: Uint8Array, lastSeq: number): BatchOp[];
  /** Reads it back. */
  read(store: Store, vb: number): Promise<Uint8Array | undefined>;
}

export interface ChannelIndexOptions {
  store: Store;
  channelsOf?: ChannelsOf;
  /** Most mutations one batch writes (default 1000). */
  maxBatch?: number;
  /** How long the worker waits for a batch to fill before writing a partial one (default 2 ms). */
  maxBatchDelayMs?: number;
  /** Seqnos of one vbucket per channel index block (default 100). */
  blockSize?: number;
  /** Pending queue capacity; producers wait for room beyond it (default 4 × maxBatch). */
  maxPending?: number;
  /** Key prefix of this index in the store (default "ci:"). */
  prefix?: string;
  /** Channel every document is also indexed in, as Sync Gateway's "*" (default "*"; false: none). */
  allDocsChannel?: string | false;
  /** Keep document bodies so include_docs works (default true). */
  storeBodies?: boolean;
  /**
   * A process that only serves reads: refuses writes and validates its caches against the store
   * (another process writes). A writing index assumes it is the only writer of its prefix.
   */
  readOnly?: boolean;
  /** Poll interval for readers when the store cannot push (default 25 ms). */
  pollIntervalMs?: number;
  /** Poll interval when the store pushes through watch(), as a fallback (default 1000 ms). */
  fallbackPollIntervalMs?: number;
  /** Largest page changes() returns (default 10,000). */
  maxLimit?: number;
  /** Checkpoint layout (default: @tributary/datasource createStoreCheckpoints records under "<prefix>ck/"). */
  checkpoints?: CheckpointWriter;
  docCacheSize?: number;
  blockCacheSize?: number;
  /** Called with every error the index cannot return to a caller (store failures, datasource errors). */
  onError?: (err: unknown) => void;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

export interface ChangeEntry {
  seq: { vbucket: number; seqno: number };
  id: string;
  rev: string;
  deleted?: true;
  /** Channels (of those asked for) the document left with this change. */
  removed?: string[];
  doc?: Record<string, unknown>;
}

export interface ChangesOptions {
  channels: readonly string[];
  /** A token from lastSeq (or "0" / undefined for the beginning, "now" for the current position). */
  since?: string | VectorClock | undefined;
  limit?: number | undefined;
  includeDocs?: boolean | undefined;
  activeOnly?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface ChangesResult {
  results: ChangeEntry[];
  lastSeq: string;
}

export interface WaitOptions {
  channels: readonly string[];
  since?: string | VectorClock | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ChannelIndexStats {
  pending: number;
  blockedProducers: number;
  waiters: number;
  counter: number;
  readOnly: boolean;
  failed?: string;
  counters: Readonly<Record<string, number>>;
  gauges: Readonly<Record<string, number>>;
}

type UpdateItem = {
  t: 0;
  vb: number;
  seq: number;
  key: string;
  value: Buffer;
  deleted: boolean;
  meta: DocMeta;
};
type MetaItem = { t: 1; vb: number; value: Uint8Array };
type RollbackItem = { t: 2; vb: number; seq: number; done: Deferred };
type Item = UpdateItem | MetaItem | RollbackItem;

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

interface Waiter {
  channels: readonly string[];
  wake: (changed: boolean) => void;
  /** Channel versions the waiter's own check saw (read-only indexes; the poller compares). */
  seen?: Map<string, number>;
}

interface Snapshot {
  stable: Map<number, number>;
  clocks: Map<string, Map<number, number>>;
  gen: number;
  /** Versions of the channels read from the store (read-only indexes). */
  versions: Map<string, number>;
}

interface Candidate {
  vb: number;
  seq: number;
  id: string;
  rev: string;
  active: boolean;
  deleted: boolean;
  removed: string[];
}

const MAX_CHANNEL_BYTES = 200;
const EMPTY = new Uint8Array(0);

export function validateChannelName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0)
    throw ErrBadChannel(String(name), 'must be a non-empty string');
  if (name.includes('\u0000')) throw ErrBadChannel(name, 'contains NUL');
  if (Buffer.byteLength(name) > MAX_CHANNEL_BYTES)
    throw ErrBadChannel(name, `longer than ${MAX_CHANNEL_BYTES} bytes`);
  return name;
}

function revOf(gen: number, cas: bigint): string {
  return `${gen}-${cas.toString(16).padStart(16, '0')}`;
}

/**
 * Sync Gateway's channel index: a datasource Receiver (and mutation-stream sink) that batches
 * mutations into channel index blocks, channel clocks and a stable clock, and serves change
 * feeds with vector-clock since tokens, waking waiting readers within milliseconds of a write.
 */
export class ChannelIndex implements AsyncDisposable {
  readonly store: Store;
  readonly readOnly: boolean;
  readonly allDocsChannel: string | false;
  readonly #log: Logger;
  readonly #m: MetricsGroup;
  readonly #keys: Keys;
  readonly #channelsOf: ChannelsOf;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #blockSize: number;
  readonly #maxPending: number;
  readonly #storeBodies: boolean;
  readonly #pollMs: number;
  readonly #fallbackPollMs: number;
  readonly #maxLimit: number;
  readonly #checkpoints: CheckpointWriter;
  readonly #onError: ((err: unknown) => void) | undefined;

  // write side
  readonly #queue: Item[] = [];
  readonly #blocked: { item: Item; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #workerWake: (() => void) | undefined;
  #accepted = 0;
  #committed = 0;
  readonly #flushWaiters: { target: number; d: Deferred }[] = [];
  readonly #applied = new Map<number, number>(); // highest seqno accepted per vb (dedupe)
  readonly #enqueuedSeq = new Map<number, number>();
  readonly #metaLatest = new Map<number, Uint8Array>();
  readonly #docCache: Lru<string, DocRecord | null>;
  readonly #blockCache: Lru<string, Buffer>;
  #worker: Promise<void> | undefined;

  // shared state (writer: authoritative; reader: validated against the store)
  #counter = 0;
  readonly #stable = new Map<number, number>();
  #stableCounter = -1;
  // The writer's exact channel clocks (only the worker fills and changes it).
  readonly #clocks: Lru<string, Map<number, number>>;
  readonly #snapshots = new Map<string, { active?: Promise<Snapshot>; pending?: Promise<Snapshot> }>();
  #activeRefresh: Promise<void> | undefined;
  #pendingRefresh: Promise<void> | undefined;
  readonly #sinceCache = new Lru<string, VectorClock>(1024);
  readonly #resultCache = new Lru<string, Promise<{ cands: Candidate[]; lastSeq: string }>>(256);

  // notification
  readonly #waiters = new Map<string, Set<Waiter>>();
  #waiterCount = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  #watchAbort: AbortController | undefined;
  #pollRunning = false;
  readonly #polledVersions = new Map<string, number>();
  #polledCounter = -1;
  #pollAgain = false;

  readonly #ready: Promise<void>;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #failed: unknown;

  constructor(options: ChannelIndexOptions) {
    if (!options?.store) throw ErrInvalidArgument('store', 'required');
    const int = (name: string, v: number | undefined, def: number, min: number) => {
      const n = v ?? def;
      if (!Number.isInteger(n) || n < min) throw ErrInvalidArgument(name, `must be an integer >= ${min}`);
      return n;
    };
    this.store = options.store;
    this.readOnly = options.readOnly ?? false;
    this.#maxBatch = int('maxBatch', options.maxBatch, 1000, 1);
    this.#delayMs = int('maxBatchDelayMs', options.maxBatchDelayMs, 2, 0);
    this.#blockSize = int('blockSize', options.blockSize, 100, 1);
    this.#maxPending = int('maxPending', options.maxPending, this.#maxBatch * 4, 1);
    this.#pollMs = int('pollIntervalMs', options.pollIntervalMs, 25, 1);
    this.#fallbackPollMs = int('fallbackPollIntervalMs', options.fallbackPollIntervalMs, 1000, 1);
    this.#maxLimit = int('maxLimit', options.maxLimit, 10_000, 1);
    this.#storeBodies = options.storeBodies ?? true;
    this.allDocsChannel = options.allDocsChannel === undefined ? '*' : options.allDocsChannel;
    if (this.allDocsChannel !== false) validateChannelName(this.allDocsChannel);
    this.#channelsOf = options.channelsOf ?? defaultChannelsOf;
    this.#onError = options.onError;
    this.#keys = new Keys(options.prefix ?? 'ci:');
    this.#checkpoints = options.checkpoints ?? datasourceCheckpoints(this.store, `${this.#keys.prefix}ck/`);
    this.#docCache = new Lru(int('docCacheSize', options.docCacheSize, 100_000, 0));
    this.#blockCache = new Lru(int('blockCacheSize', options.blockCacheSize, 20_000, 0));
    this.#clocks = new Lru(20_000);
    this.#log = componentLogger(options.logger, 'channel-index', { prefix: this.#keys.prefix });
    this.#m = (options.metrics ?? createMetrics()).group('channel-index');
    this.#ready = this.#load();
    this.#ready.catch((err) => this.#fail(err));
  }

  async #load(): Promise<void> {
    const { counter, clock } = decodeClock(await this.store.get(this.#keys.stable));
    this.#counter = counter;
    this.#stableCounter = counter;
    for (const [vb, seq] of clock) {
      this.#stable.set(vb, seq);
      if (!this.readOnly) this.#applied.set(vb, seq);
    }
    this.#log.debug({ counter: this.#counter, vbuckets: this.#stable.size }, 'loaded');
  }

  /** Resolves once the index has read its state from the store. */
  ready(): Promise<void> {
    return this.#ready;
  }

  // ---------------------------------------------------------------- receiver (datasource)

  onError(err: unknown): void {
    this.#m.counter('datasourceErrors').inc(1);
    this.#log.warn({ err }, 'datasource error');
    this.#onError?.(err);
  }

  dataUpdate(vb: number, key: Buffer, seq: number, req: ReceiverRequest): void | Promise<void> {
    return this.#enqueueUpdate(vb, key, seq, req, false);
  }

  dataDelete(vb: number, key: Buffer, seq: number, req: ReceiverRequest): void | Promise<void> {
    return this.#enqueueUpdate(vb, key, seq, req, true);
  }

  snapshotStart(_vb: number, _snapStart: number, _snapEnd: number, _snapType?: number): void {
    this.#m.counter('snapshots').inc(1);
  }

  setMetaData(vb: number, value: Uint8Array): void | Promise<void> {
    this.#metaLatest.set(vb, value);
    return this.#enqueue({ t: 1, vb, value });
  }

  async getMetaData(vb: number): Promise<{ value?: Uint8Array; lastSeq: number }> {
    await this.#ready;
    let value = this.#metaLatest.get(vb);
    if (!value) {
      value = await this.#checkpoints.read(this.store, vb);
      if (value) this.#metaLatest.set(vb, value);
    }
    const lastSeq = this.#enqueuedSeq.get(vb) ?? this.#applied.get(vb) ?? this.#stable.get(vb) ?? 0;
    return value ? { value, lastSeq } : { lastSeq };
  }

  async rollback(vb: number, rollbackSeq: number): Promise<void> {
    const done = deferred();
    const r = this.#enqueue({ t: 2, vb, seq: rollbackSeq, done });
    // The datasource streams again from rollbackSeq: forget what was accepted above it.
    if ((this.#enqueuedSeq.get(vb) ?? 0) > rollbackSeq) this.#enqueuedSeq.set(vb, rollbackSeq);
    if (r) await r;
    await done.promise;
  }

  rollbackEx(vb: number, _vbucketUuid: bigint, rollbackSeq: number): Promise<void> {
    return this.rollback(vb, rollbackSeq);
  }

  /** Mutations from a mutation stream server (a MutationBatch or its mutations). Resolves when queued. */
  async applyBatch(
    batch: { mutations: readonly StreamMutation[] } | readonly StreamMutation[],
  ): Promise<void> {
    const list = Array.isArray(batch)
      ? (batch as readonly StreamMutation[])
      : (batch as { mutations: readonly StreamMutation[] }).mutations;
    for (const m of list) {
      const key = Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key);
      const value = Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value);
      const r = this.#enqueueUpdate(
        m.vbucket,
        key,
        m.seqno,
        { cas: m.cas, flags: m.flags, expiry: m.expiry, revSeqno: 0, datatype: 0, value },
        m.kind !== 'mutation',
      );
      if (r) await r;
    }
  }

  /** Resolves when everything queued so far is written (or rejects if the index failed). */
  flush(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failure());
    if (this.#committed >= this.#accepted && this.#blocked.length === 0) return Promise.resolve();
    const d = deferred();
    this.#flushWaiters.push({ target: this.#accepted + this.#blocked.length, d });
    return d.promise;
  }

  #enqueueUpdate(
    vb: number,
    key: Buffer,
    seq: number,
    req: ReceiverRequest,
    deleted: boolean,
  ): void | Promise<void> {
    if (!Number.isSafeInteger(seq) || seq < 1)
      throw ErrInvalidArgument('seq', `must be a positive integer, got ${seq}`);
    const meta: DocMeta = {
      vbucket: vb,
      seqno: seq,
      cas: req.cas,
      flags: req.flags,
      expiry: req.expiry,
      revSeqno: req.revSeqno || undefined,
      datatype: req.datatype,
      xattrs: req.xattrs,
      value: req.value,
    };
    // key and value may be views into a network buffer: keep copies.
    const value = Buffer.from(req.value);
    meta.value = value;
    return this.#enqueue({ t: 0, vb, seq, key: key.toString('utf8'), value, deleted, meta });
  }

  #check(what: string): void {
    if (this.#closed) throw ErrChannelIndexClosed();
    if (this.#failed) throw this.#failure();
    if (this.readOnly) throw ErrChannelIndexReadOnly(what);
  }

  #failure() {
    const f = this.#failed as { message?: string } | undefined;
    return ErrChannelIndexFailed(f?.message ?? String(f), { cause: this.#failed });
  }

  #enqueue(item: Item): void | Promise<void> {
    this.#check(item.t === 0 ? 'writing a mutation' : item.t === 1 ? 'writing metadata' : 'rollback');
    if (!this.#worker) this.#worker = this.#run();
    if (this.#blocked.length === 0 && this.#queue.length < this.#maxPending) {
      this.#accept(item);
      return;
    }
    this.#m.counter('backpressureWaits').inc(1);
    return new Promise<void>((resolve, reject) => {
      this.#blocked.push({ item, resolve, reject });
      this.#m.gauge('blockedProducers').set(this.#blocked.length);
    });
  }

  #accept(item: Item): void {
    this.#queue.push(item);
    this.#accepted++;
    if (item.t === 0 && item.seq > (this.#enqueuedSeq.get(item.vb) ?? 0))
      this.#enqueuedSeq.set(item.vb, item.seq);
    this.#m.gauge('pending').set(this.#queue.length);
    const w = this.#workerWake;
    if (w) {
      this.#workerWake = undefined;
      w();
    }
  }

  #admit(): void {
    while (this.#blocked.length > 0 && this.#queue.length < this.#maxPending) {
      const b = this.#blocked.shift()!;
      this.#accept(b.item);
      b.resolve();
    }
    this.#m.gauge('blockedProducers').set(this.#blocked.length);
  }

  async #run(): Promise<void> {
    try {
      await this.#ready;
      for (;;) {
        if (this.#failed) return;
        if (this.#queue.length === 0) {
          if (this.#closed) return;
          await new Promise<void>((r) => {
            this.#workerWake = r;
          });
          continue;
        }
        if (this.#queue.length < this.#maxBatch && this.#delayMs > 0 && !this.#closed)
          await sleep(this.#delayMs);
        const items = this.#queue.splice(0, this.#maxBatch);
        this.#admit();
        this.#m.gauge('pending').set(this.#queue.length);
        await this.#process(items);
        this.#committed += items.length;
        this.#resolveFlushes();
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  #resolveFlushes(): void {
    for (let i = this.#flushWaiters.length - 1; i >= 0; i--) {
      const f = this.#flushWaiters[i]!;
      if (this.#committed >= f.target) {
        this.#flushWaiters.splice(i, 1);
        f.d.resolve();
      }
    }
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = err;
    this.#log.error({ err }, 'channel index failed; writes stop');
    this.#m.counter('failures').inc(1);
    const e = this.#failure();
    for (const b of this.#blocked.splice(0)) b.reject(e);
    for (const f of this.#flushWaiters.splice(0)) f.d.reject(e);
    for (const it of this.#queue.splice(0)) if (it.t === 2) it.done.reject(e);
    this.#onError?.(e);
  }

  async #process(items: Item[]): Promise<void> {
    let seg: Item[] = [];
    for (const it of items) {
      if (it.t === 2) {
        if (seg.length) await this.#commitData(seg);
        seg = [];
        try {
          await this.#doRollback(it.vb, it.seq);
          it.done.resolve();
        } catch (err) {
          it.done.reject(err);
          throw err;
        }
      } else {
        seg.push(it);
      }
    }
    if (seg.length) await this.#commitData(seg);
  }

  async #writeOps(ops: BatchOp[]): Promise<void> {
    await this.#retry('batch', () => this.store.batch(ops));
  }

  /** Reads on the write path retry like writes: a store outage must pause indexing, not stop it. */
  #readMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.#retry('getMany', () => this.store.getMany(keys));
  }

  async #retry<T>(what: string, f: () => Promise<T>): Promise<T> {
    let delay = 50;
    for (;;) {
      try {
        return await f();
      } catch (err) {
        if (!isTributaryError(err) || !err.retriable || this.#closed) throw err;
        this.#m.counter('storeRetries').inc(1);
        this.#log.warn({ err, delay }, `store ${what} failed; retrying`);
        this.#onError?.(err);
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  #normalizeChannels(out: Set<string>, raw: ReturnType<ChannelsOf>): void {
    if (raw === undefined || raw === null) return;
    const list = typeof raw === 'string' ? [raw] : raw;
    for (const ch of list) {
      if (
        typeof ch === 'string' &&
        ch.length > 0 &&
        !ch.includes('\u0000') &&
        Buffer.byteLength(ch) <= MAX_CHANNEL_BYTES
      )
        out.add(ch);
      else this.#m.counter('badChannels').inc(1);
    }
  }

  async #commitData(items: Item[]): Promise<void> {
    const t0 = performance.now();
    const K = this.#keys;
    // 1. document records this batch needs
    const docs = new Map<string, DocRecord | null>();
    const missing: string[] = [];
    for (const it of items) {
      if (it.t !== 0) continue;
      const dk = K.docString(it.vb, it.key);
      if (docs.has(dk)) continue;
      const c = this.#docCache.get(dk);
      if (c !== undefined) docs.set(dk, c);
      else {
        docs.set(dk, null);
        missing.push(dk);
      }
    }
    if (missing.length) {
      const vals = await this.#readMany(missing.map((k) => Buffer.from(k)));
      for (let i = 0; i < missing.length; i++) {
        const v = vals[i];
        docs.set(missing[i]!, v ? decodeDoc(v) : null);
      }
    }

    // 2. apply in order
    const appends = new Map<string, { ch: string; vb: number; blk: number; entries: BlockEntry[] }>();
    const clockUp = new Map<string, Map<number, number>>();
    const stableUp = new Map<number, number>();
    const metaUp = new Map<number, Uint8Array>();
    const dirtyDocs = new Set<string>();
    const applied = new Map<number, number>();
    let nMut = 0;
    let nDel = 0;
    let nDup = 0;
    let nEntries = 0;
    let nRemovals = 0;
    let nTombstones = 0;
    const addEntry = (ch: string, vb: number, e: BlockEntry) => {
      const blk = Math.floor(e.seq / this.#blockSize);
      const bk = K.blockString(ch, vb, blk);
      let a = appends.get(bk);
      if (!a) appends.set(bk, (a = { ch, vb, blk, entries: [] }));
      a.entries.push(e);
      let cu = clockUp.get(ch);
      if (!cu) clockUp.set(ch, (cu = new Map()));
      cu.set(vb, e.seq);
      nEntries++;
      if (e.state === EntryState.Removed) nRemovals++;
      else if (e.state === EntryState.Deleted) nTombstones++;
    };
    const newChannels = new Set<string>();
    for (const it of items) {
      if (it.t === 1) {
        metaUp.set(it.vb, it.value);
        continue;
      }
      if (it.t !== 0) continue;
      const last = applied.get(it.vb) ?? this.#applied.get(it.vb) ?? 0;
      if (it.seq <= last) {
        nDup++;
        continue;
      }
      applied.set(it.vb, it.seq);
      stableUp.set(it.vb, it.seq);
      const dk = K.docString(it.vb, it.key);
      const prev = docs.get(dk) ?? null;
      const gen = it.meta.revSeqno ?? (prev ? prev.gen + 1 : 1);
      const rev = revOf(gen, it.meta.cas);
      const rec: DocRecord = {
        seq: it.seq,
        gen,
        rev,
        deleted: it.deleted,
        channels: new Map<string, ChannelMembership>(prev?.channels),
        body: !it.deleted && this.#storeBodies ? it.value : undefined,
      };
      const entry = (state: EntryState): BlockEntry => ({ seq: it.seq, state, id: it.key, rev });
      if (it.deleted) {
        nDel++;
        let wroteAll = false;
        for (const [ch, m] of rec.channels) {
          if (m.state !== EntryState.Active) continue;
          rec.channels.set(ch, { seq: it.seq, state: EntryState.Deleted });
          addEntry(ch, it.vb, entry(EntryState.Deleted));
          if (ch === this.allDocsChannel) wroteAll = true;
        }
        if (this.allDocsChannel !== false && !wroteAll) {
          rec.channels.set(this.allDocsChannel, { seq: it.seq, state: EntryState.Deleted });
          addEntry(this.allDocsChannel, it.vb, entry(EntryState.Deleted));
        }
      } else {
        nMut++;
        newChannels.clear();
        let body: unknown;
        try {
          body = JSON.parse(it.value.toString('utf8'));
        } catch {
          body = undefined;
        }
        let raw: ReturnType<ChannelsOf>;
        try {
          raw = this.#channelsOf(it.key, body, it.meta);
        } catch (err) {
          this.#m.counter('channelsOfErrors').inc(1);
          this.#log.warn({ err, key: it.key }, 'channelsOf threw; document indexed in no channel');
          raw = undefined;
        }
        this.#normalizeChannels(newChannels, raw);
        if (this.allDocsChannel !== false) newChannels.add(this.allDocsChannel);
        for (const ch of newChannels) {
          rec.channels.set(ch, { seq: it.seq, state: EntryState.Active });
          addEntry(ch, it.vb, entry(EntryState.Active));
        }
        for (const [ch, m] of prev?.channels ?? []) {
          if (m.state === EntryState.Active && !newChannels.has(ch)) {
            rec.channels.set(ch, { seq: it.seq, state: EntryState.Removed });
            addEntry(ch, it.vb, entry(EntryState.Removed));
          }
        }
      }
      if (prev || rec.channels.size > 0) {
        docs.set(dk, rec);
        dirtyDocs.add(dk);
      }
    }

    // 3. blocks and channel clocks this batch extends (fetched together when not cached)
    const needBlocks: string[] = [];
    for (const bk of appends.keys()) if (!this.#blockCache.has(bk)) needBlocks.push(bk);
    const needClocks: string[] = [];
    for (const ch of clockUp.keys()) if (!this.#clocks.has(ch)) needClocks.push(ch);
    const fetched = new Map<string, Buffer | undefined>();
    const fetchedClocks = new Map<string, Map<number, number>>();
    if (needBlocks.length || needClocks.length) {
      const vals = await this.#readMany([
        ...needBlocks.map((k) => Buffer.from(k)),
        ...needClocks.map((ch) => K.version(ch)),
      ]);
      for (let i = 0; i < needBlocks.length; i++) {
        const v = vals[i];
        fetched.set(needBlocks[i]!, v ? Buffer.from(v) : undefined);
      }
      for (let i = 0; i < needClocks.length; i++)
        fetchedClocks.set(needClocks[i]!, decodeClock(vals[needBlocks.length + i]).clock);
    }
    const ops: BatchOp[] = [];
    const newBlocks: [string, Buffer][] = [];
    for (const [bk, a] of appends) {
      const old = fetched.has(bk) ? fetched.get(bk) : this.#blockCache.get(bk);
      const add = encodeEntries(a.entries);
      const bytes = old?.length ? Buffer.concat([old, add]) : add;
      newBlocks.push([bk, bytes]);
      ops.push({ type: 'put', key: Buffer.from(bk), value: bytes });
    }
    for (const dk of dirtyDocs)
      ops.push({ type: 'put', key: Buffer.from(dk), value: encodeDoc(docs.get(dk)!) });
    const counter = stableUp.size > 0 ? this.#counter + 1 : this.#counter;
    const newClocks = new Map<string, Map<number, number>>();
    let newStable: Map<number, number> | undefined;
    if (stableUp.size > 0) {
      for (const [ch, cu] of clockUp) {
        const clock = new Map(fetchedClocks.get(ch) ?? this.#clocks.get(ch)!);
        for (const [vb, seq] of cu) clock.set(vb, seq);
        newClocks.set(ch, clock);
        ops.push({ type: 'put', key: K.version(ch), value: encodeClock(counter, clock) });
      }
      newStable = new Map(this.#stable);
      for (const [vb, seq] of stableUp) newStable.set(vb, seq);
      ops.push({ type: 'put', key: K.stable, value: encodeClock(counter, newStable) });
    }
    for (const [vb, value] of metaUp) {
      const lastSeq = applied.get(vb) ?? this.#applied.get(vb) ?? 0;
      ops.push(...this.#checkpoints.ops(vb, value, lastSeq));
    }
    if (ops.length) await this.#writeOps(ops);

    // 4. committed: update caches, then wake readers
    for (const dk of dirtyDocs) this.#docCache.set(dk, docs.get(dk)!);
    for (const [dk, rec] of docs) if (rec === null && !this.#docCache.has(dk)) this.#docCache.set(dk, null);
    for (const [bk, bytes] of newBlocks) this.#blockCache.set(bk, bytes);
    for (const [vb, seq] of applied) this.#applied.set(vb, seq);
    for (const [ch, clock] of newClocks) this.#clocks.set(ch, clock);
    if (newStable) {
      this.#counter = counter;
      for (const [vb, seq] of newStable) this.#stable.set(vb, seq);
      this.#stableCounter = counter;
    }
    const ms = performance.now() - t0;
    this.#m.counter('batches').inc(1);
    this.#m.counter('mutations').inc(nMut);
    this.#m.counter('deletions').inc(nDel);
    this.#m.counter('duplicates').inc(nDup);
    this.#m.counter('entries').inc(nEntries);
    this.#m.counter('removals').inc(nRemovals);
    this.#m.counter('tombstones').inc(nTombstones);
    this.#m.counter('metaWrites').inc(metaUp.size);
    this.#m.histogram('batchSize').observe(items.length);
    this.#m.histogram('commitMs').observe(ms);
    if (this.#log.isLevelEnabled('trace'))
      this.#log.trace({ items: items.length, entries: nEntries, ms }, 'batch committed');
    if (clockUp.size > 0) this.#notify(clockUp.keys());
  }

  async #doRollback(vb: number, seq: number): Promise<void> {
    const K = this.#keys;
    this.#m.counter('rollbacks').inc(1);
    this.#log.info({ vb, seq }, 'rollback');
    // Documents whose last change is above the rollback point.
    const affected = new Map<string, DocRecord>();
    for await (const { key, value } of this.store.scan({ prefix: K.docVbPrefix(vb) })) {
      const rec = decodeDoc(value);
      if (rec.seq > seq) affected.set(K.idOfDocKey(key), rec);
    }
    const channels = new Set<string>();
    for (const rec of affected.values()) for (const ch of rec.channels.keys()) channels.add(ch);
    const ops: BatchOp[] = [];
    // Latest surviving entry per (doc, channel).
    const survivors = new Map<string, Map<string, BlockEntry>>();
    const newClock = new Map<string, number>();
    for (const ch of channels) {
      let maxKept = 0;
      for await (const { key, value } of this.store.scan({ prefix: K.blockVbPrefix(ch, vb) })) {
        const bkString = Buffer.from(key).toString('utf8');
        const { bytes, maxSeq } = truncateBlock(value, seq);
        if (bytes.length !== value.length) {
          ops.push(bytes.length ? { type: 'put', key, value: bytes } : { type: 'del', key });
        }
        this.#blockCache.delete(bkString);
        if (maxSeq > maxKept) maxKept = maxSeq;
        for (const e of decodeEntries(bytes)) {
          if (!affected.has(e.id)) continue;
          let s = survivors.get(e.id);
          if (!s) survivors.set(e.id, (s = new Map()));
          s.set(ch, e);
        }
      }
      newClock.set(ch, maxKept);
    }
    for (const [id, rec] of affected) {
      const dk = K.docString(vb, id);
      this.#docCache.delete(dk);
      const s = survivors.get(id);
      if (!s || s.size === 0) {
        ops.push({ type: 'del', key: Buffer.from(dk) });
        continue;
      }
      let latest: BlockEntry | undefined;
      const chans = new Map<string, ChannelMembership>();
      for (const [ch, e] of s) {
        chans.set(ch, { seq: e.seq, state: e.state });
        if (!latest || e.seq > latest.seq) latest = e;
      }
      const gen = Number.parseInt(latest!.rev, 10) || rec.gen;
      const restored: DocRecord = {
        seq: latest!.seq,
        gen,
        rev: latest!.rev,
        deleted: latest!.state === EntryState.Deleted,
        channels: chans,
      };
      ops.push({ type: 'put', key: Buffer.from(dk), value: encodeDoc(restored) });
    }
    const counter = this.#counter + 1;
    const chList = [...newClock.keys()];
    const current = await this.#readMany(chList.map((ch) => K.version(ch)));
    const clocks = new Map<string, Map<number, number>>();
    chList.forEach((ch, i) => {
      const clock = decodeClock(current[i]).clock;
      const max = newClock.get(ch)!;
      if (max > 0) clock.set(vb, max);
      else clock.delete(vb);
      clocks.set(ch, clock);
      ops.push({ type: 'put', key: K.version(ch), value: encodeClock(counter, clock) });
    });
    const stable = new Map(this.#stable);
    stable.set(vb, Math.min(this.#stable.get(vb) ?? 0, seq));
    ops.push({ type: 'put', key: K.stable, value: encodeClock(counter, stable) });
    await this.#writeOps(ops);
    this.#counter = counter;
    this.#stableCounter = counter;
    this.#stable.set(vb, stable.get(vb)!);
    this.#applied.set(vb, Math.min(this.#applied.get(vb) ?? 0, seq));
    for (const [ch, clock] of clocks) this.#clocks.set(ch, clock);
    this.#resultCache.clear();
    this.#m.counter('rolledBackDocs').inc(affected.size);
    this.#notify(channels);
  }

  // ---------------------------------------------------------------- reads

  #checkOpen(): void {
    if (this.#closed) throw ErrChannelIndexClosed();
  }

  #channelList(channels: readonly string[]): string[] {
    if (!Array.isArray(channels)) throw ErrInvalidArgument('channels', 'must be an array of channel names');
    const out = new Set<string>();
    for (const ch of channels) out.add(validateChannelName(ch));
    return [...out].sort();
  }

  /** The current position of the whole index (what since=now means). */
  async currentSince(): Promise<string> {
    this.#checkOpen();
    await this.#ready;
    if (this.readOnly) await this.#refresh();
    return encodeSince(this.#stable);
  }

  #refresh(): Promise<void> {
    if (this.#pendingRefresh) return this.#pendingRefresh;
    if (!this.#activeRefresh) {
      this.#activeRefresh = this.#doRefresh().finally(() => {
        this.#activeRefresh = undefined;
      });
      return this.#activeRefresh;
    }
    const after = this.#activeRefresh;
    this.#pendingRefresh = after
      .catch(() => {})
      .then(() => {
        this.#pendingRefresh = undefined;
        return this.#refresh();
      });
    return this.#pendingRefresh;
  }

  async #doRefresh(): Promise<void> {
    const { counter, clock } = decodeClock(await this.store.get(this.#keys.stable));
    if (counter === this.#stableCounter) return;
    this.#stable.clear();
    for (const [vb, s] of clock) this.#stable.set(vb, s);
    this.#stableCounter = counter;
    this.#counter = Math.max(this.#counter, counter);
    this.#m.counter('stableReloads').inc(1);
  }

  /**
   * The stable clock, then the channel clocks (in that order, so no entry at or below the stable
   * clock is missed). Concurrent callers asking about the same channels share one read, but never
   * one that started before they asked.
   */
  #snapshot(channels: readonly string[]): Promise<Snapshot> {
    const key = channels.join('\u0000');
    let slot = this.#snapshots.get(key);
    if (!slot) {
      slot = {};
      this.#snapshots.set(key, slot);
    }
    if (slot.pending) return slot.pending;
    const s = slot;
    const start = (): Promise<Snapshot> => {
      const p: Promise<Snapshot> = this.#takeSnapshot(channels).finally(() => {
        if (s.active === p) s.active = undefined;
        if (!s.active && !s.pending && this.#snapshots.get(key) === s) this.#snapshots.delete(key);
      });
      s.active = p;
      return p;
    };
    if (!s.active) return start();
    s.pending = s.active
      .catch(() => {})
      .then(() => {
        s.pending = undefined;
        return start();
      });
    return s.pending;
  }

  async #takeSnapshot(channels: readonly string[]): Promise<Snapshot> {
    await this.#ready;
    if (this.readOnly) await this.#refresh();
    const stable = new Map(this.#stable);
    const gen = this.readOnly ? this.#stableCounter : this.#counter;
    const clocks = new Map<string, Map<number, number>>();
    const versions = new Map<string, number>();
    const missing: string[] = [];
    for (const ch of channels) {
      // The writer's clock cache is exact; a read-only index always reads the store.
      const c = this.readOnly ? undefined : this.#clocks.peek(ch);
      if (c) clocks.set(ch, c);
      else missing.push(ch);
    }
    if (missing.length) {
      const vals = await this.store.getMany(missing.map((ch) => this.#keys.version(ch)));
      missing.forEach((ch, i) => {
        const { counter, clock } = decodeClock(vals[i]);
        clocks.set(ch, clock);
        versions.set(ch, counter);
      });
      this.#m.counter('clockReads').inc(missing.length);
    }
    return { stable, clocks, gen, versions };
  }

  async #readChannelVb(
    ch: string,
    vb: number,
    lo: number,
    hi: number,
    cap: number,
    first: Uint8Array | undefined,
  ): Promise<{ entries: BlockEntry[]; complete: number }> {
    const K = this.#keys;
    let from = Math.floor((lo + 1) / this.#blockSize);
    const to = Math.floor(hi / this.#blockSize);
    let entries: BlockEntry[] = [];
    if (first !== undefined) {
      // The block holding lo + 1, already fetched with every other vbucket's in one read.
      entries = decodeEntries(first, lo, hi, cap);
      if (entries.length >= cap) return { entries, complete: entries[entries.length - 1]!.seq };
      if (to === from) return { entries, complete: hi };
      from++;
    }
    for await (const { value } of this.store.scan({
      gte: K.block(ch, vb, from),
      lt: K.block(ch, vb, to + 1),
    })) {
      for (const e of decodeEntries(value, lo, hi, cap - entries.length)) entries.push(e);
      if (entries.length >= cap) {
        // Complete up to the last entry read; the caller pages on from there.
        return { entries, complete: entries[entries.length - 1]!.seq };
      }
    }
    return { entries, complete: hi };
  }

  /** A since option as a clock and a token; tokens decode once (10,000 readers share a few). */
  async #since(since: ChangesOptions['since']): Promise<{ clock: VectorClock; token: string }> {
    if (since instanceof Map) return { clock: since, token: encodeSince(since) };
    const token =
      since === 'now' ? await this.currentSince() : since === undefined || since === '' ? '0' : since;
    let clock = this.#sinceCache.get(token);
    if (!clock) {
      clock = decodeSince(token);
      this.#sinceCache.set(token, clock);
    }
    return { clock, token };
  }

  async #candidates(
    channels: string[],
    since: VectorClock,
    token: string,
    limit: number,
    activeOnly: boolean,
  ): Promise<{ cands: Candidate[]; lastSeq: string }> {
    const snap = await this.#snapshot(channels);
    const key = `${snap.gen}|${channels.join('\u0000')}|${token}|${limit}|${activeOnly ? 1 : 0}`;
    const hit = this.#resultCache.get(key);
    if (hit) {
      this.#m.counter('changesCoalesced').inc(1);
      return hit;
    }
    // Shared by every caller asking the same question of the same state (10,000 woken longpolls
    // on one channel cost one read), so it takes no caller's signal.
    const p = this.#computeCandidates(snap, channels, since, limit, activeOnly);
    this.#resultCache.set(key, p);
    p.catch(() => this.#resultCache.delete(key));
    return p;
  }

  async #computeCandidates(
    snap: { stable: Map<number, number>; clocks: Map<string, Map<number, number>> },
    channels: string[],
    since: VectorClock,
    limit: number,
    activeOnly: boolean,
  ): Promise<{ cands: Candidate[]; lastSeq: string }> {
    const vbs = new Map<number, number>(); // vb → highest clock among channels
    for (const clock of snap.clocks.values()) {
      for (const [vb, s] of clock) {
        if (s > (since.get(vb) ?? 0) && s > (vbs.get(vb) ?? 0)) vbs.set(vb, s);
      }
    }
    const perVb: { vb: number; list: Candidate[]; bound: number }[] = [];
    const vbList = [...vbs.keys()].sort((a, b) => a - b);
    // Each vbucket only needs its share of the page (a little more, so the page fills): reading
    // every vbucket up to `limit` makes a page cost as much as the whole backlog.
    const perVbCap = Math.max(1, Math.ceil((2 * limit) / Math.max(1, vbList.length)));
    const first = new Map<string, Uint8Array>();
    for (const ch of channels) {
      const clock = snap.clocks.get(ch)!;
      const want = vbList.filter((vb) => (clock.get(vb) ?? 0) > (since.get(vb) ?? 0));
      if (!want.length) continue;
      const vals = await this.store.getMany(
        want.map((vb) => this.#keys.block(ch, vb, Math.floor(((since.get(vb) ?? 0) + 1) / this.#blockSize))),
      );
      for (let i = 0; i < want.length; i++) first.set(`${ch}\u0000${want[i]}`, vals[i] ?? EMPTY);
    }
    await Promise.all(
      vbList.map(async (vb) => {
        const lo = since.get(vb) ?? 0;
        const hi = Math.min(snap.stable.get(vb) ?? 0, vbs.get(vb)!);
        if (hi <= lo) return;
        let bound = hi;
        const bySeq = new Map<number, Candidate>();
        for (const ch of channels) {
          const c = snap.clocks.get(ch)!.get(vb) ?? 0;
          if (c <= lo) continue;
          const { entries, complete } = await this.#readChannelVb(
            ch,
            vb,
            lo,
            Math.min(hi, c),
            perVbCap,
            first.get(`${ch}\u0000${vb}`),
          );
          if (complete < Math.min(hi, c)) bound = Math.min(bound, complete);
          for (const e of entries) {
            let cand = bySeq.get(e.seq);
            if (!cand)
              bySeq.set(
                e.seq,
                (cand = { vb, seq: e.seq, id: e.id, rev: e.rev, active: false, deleted: false, removed: [] }),
              );
            if (e.state === EntryState.Active) cand.active = true;
            else if (e.state === EntryState.Deleted) cand.deleted = true;
            else cand.removed.push(ch);
          }
        }
        // Keep each document once, at its latest change within the bound.
        const latest = new Map<string, Candidate>();
        for (const cand of bySeq.values()) {
          if (cand.seq > bound) continue;
          const cur = latest.get(cand.id);
          if (!cur || cand.seq > cur.seq) latest.set(cand.id, cand);
        }
        const list = [...latest.values()].sort((a, b) => a.seq - b.seq);
        perVb.push({ vb, list, bound });
      }),
    );
    // Stable order: by seqno, then vbucket; a page is a prefix of it.
    const all: Candidate[] = [];
    for (const v of perVb) for (const c of v.list) all.push(c);
    all.sort((a, b) => a.seq - b.seq || a.vb - b.vb);
    const next = new Map(since);
    const out: Candidate[] = [];
    const consumed = new Map<number, number>();
    let i = 0;
    for (; i < all.length && out.length < limit; i++) {
      const c = all[i]!;
      consumed.set(c.vb, c.seq);
      if (activeOnly && !c.active) continue;
      out.push(c);
    }
    const done = i >= all.length;
    const remainingVbs = new Set<number>();
    if (!done) for (let j = i; j < all.length; j++) remainingVbs.add(all[j]!.vb);
    for (const v of perVb) {
      if (!remainingVbs.has(v.vb)) next.set(v.vb, v.bound);
      else if (consumed.has(v.vb)) next.set(v.vb, consumed.get(v.vb)!);
    }
    return { cands: out, lastSeq: encodeSince(next) };
  }

  /**
   * Changes in `channels` after `since`, each document once at its latest change, in a stable
   * order (seqno, then vbucket). lastSeq resumes exactly after the last entry returned.
   */
  async changes(options: ChangesOptions): Promise<ChangesResult> {
    this.#checkOpen();
    options.signal?.throwIfAborted();
    const channels = this.#channelList(options.channels);
    const limit = options.limit ?? this.#maxLimit;
    if (!Number.isInteger(limit) || limit < 1)
      throw ErrInvalidArgument('limit', 'must be a positive integer');
    const { clock: since, token } = await this.#since(options.since);
    this.#m.counter('changesCalls').inc(1);
    if (channels.length === 0) return { results: [], lastSeq: token };
    const { cands, lastSeq } = await this.#candidates(
      channels,
      since,
      token,
      Math.min(limit, this.#maxLimit),
      options.activeOnly ?? false,
    );
    options.signal?.throwIfAborted();
    const results: ChangeEntry[] = cands.map((c) => {
      const e: ChangeEntry = { seq: { vbucket: c.vb, seqno: c.seq }, id: c.id, rev: c.rev };
      if (!c.active) {
        if (c.deleted) e.deleted = true;
        else e.removed = [...c.removed];
      }
      return e;
    });
    if (options.includeDocs && results.length) await this.#attachDocs(results, channels);
    return { results, lastSeq };
  }

  async #attachDocs(results: ChangeEntry[], channels: string[]): Promise<void> {
    const asked = new Set(channels);
    const vals = await this.store.getMany(results.map((r) => this.#keys.doc(r.seq.vbucket, r.id)));
    results.forEach((r, i) => {
      const v = vals[i];
      const rec = v ? decodeDoc(v) : undefined;
      if (r.deleted || rec?.deleted) {
        r.doc = { _id: r.id, _rev: rec?.rev ?? r.rev, _deleted: true };
        return;
      }
      // Only a body the reader may see: the document must still be in one of the channels asked for.
      const visible =
        rec && [...rec.channels].some(([ch, m]) => m.state === EntryState.Active && asked.has(ch));
      if (r.removed || !visible || !rec) {
        r.doc = { _id: r.id, _rev: rec?.rev ?? r.rev, _removed: true };
        return;
      }
      let body: Record<string, unknown> = {};
      if (rec.body) {
        try {
          const parsed = JSON.parse(rec.body.toString('utf8'));
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed;
        } catch {
          body = {};
        }
      }
      r.doc = { ...body, _id: r.id, _rev: rec.rev };
    });
  }

  /**
   * Resolves true as soon as one of `channels` has entries after `since` (at once if it already
   * has), false on timeout; rejects with TRIB_ABORTED when the signal aborts.
   */
  async waitForChanges(options: WaitOptions): Promise<boolean> {
    this.#checkOpen();
    const channels = this.#channelList(options.channels);
    const { clock: since } = await this.#since(options.since);
    const signal = options.signal;
    if (signal?.aborted) throw ErrAborted('waitForChanges', { cause: signal.reason });
    if (channels.length === 0) {
      if (options.timeoutMs !== undefined)
        await sleep(options.timeoutMs, undefined, { signal }).catch(() => {});
      if (signal?.aborted) throw ErrAborted('waitForChanges', { cause: signal.reason });
      return false;
    }
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        channels,
        wake: (changed) => finish(() => resolve(changed)),
      };
      const onAbort = () => finish(() => reject(ErrAborted('waitForChanges', { cause: signal?.reason })));
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#removeWaiter(waiter);
        f();
      };
      this.#addWaiter(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) timer = setTimeout(() => waiter.wake(false), options.timeoutMs);
      // Registered first, then checked: a write between the two still wakes us.
      this.#snapshot(channels).then(
        (snap) => {
          if (this.#hasNew(snap, since)) return waiter.wake(true);
          if (!this.readOnly) return;
          // From now on the poller wakes this waiter when a channel's version passes what this
          // check saw; and if the poller already saw a newer one, that is a change we missed.
          // A version newer than the stable clock the check used was not covered by it: count
          // the channel as seen only up to that stable clock's counter.
          const seen = new Map<string, number>();
          for (const ch of channels) seen.set(ch, Math.min(snap.versions.get(ch) ?? 0, snap.gen));
          waiter.seen = seen;
          for (const ch of channels) {
            if ((this.#polledVersions.get(ch) ?? -1) > seen.get(ch)!) return waiter.wake(true);
          }
        },
        (err) => finish(() => reject(err)),
      );
    });
  }

  #hasNew(
    snap: { stable: Map<number, number>; clocks: Map<string, Map<number, number>> },
    since: VectorClock,
  ): boolean {
    for (const clock of snap.clocks.values()) {
      for (const [vb, s] of clock) {
        const lo = since.get(vb) ?? 0;
        if (s > lo && (snap.stable.get(vb) ?? 0) > lo) return true;
      }
    }
    return false;
  }

  #addWaiter(w: Waiter): void {
    for (const ch of w.channels) {
      let set = this.#waiters.get(ch);
      if (!set) this.#waiters.set(ch, (set = new Set()));
      set.add(w);
    }
    this.#waiterCount++;
    this.#m.gauge('waiters').set(this.#waiterCount);
    if (this.readOnly) this.#startPolling();
  }

  #removeWaiter(w: Waiter): void {
    for (const ch of w.channels) {
      const set = this.#waiters.get(ch);
      if (set?.delete(w) && set.size === 0) {
        this.#waiters.delete(ch);
        this.#polledVersions.delete(ch);
      }
    }
    this.#waiterCount--;
    this.#m.gauge('waiters').set(this.#waiterCount);
    if (this.#waiterCount === 0) this.#stopPolling();
  }

  #notify(channels: Iterable<string>): void {
    let woken = 0;
    const all = new Set<Waiter>();
    for (const ch of channels) {
      const set = this.#waiters.get(ch);
      if (set) for (const w of set) all.add(w);
    }
    for (const w of all) {
      w.wake(true);
      woken++;
    }
    if (woken) this.#m.counter('wakeups').inc(woken);
  }

  // Sync Gateway's poller: runs only while readers wait; loads the batch counter (the stable clock's
  // version) and, if it moved, the versions of the waited-on channels, and wakes their readers.
  #startPolling(): void {
    if (this.#closed) return;
    if (this.store.watch && !this.#watchAbort) {
      const ac = new AbortController();
      this.#watchAbort = ac;
      const it = this.store.watch(this.#keys.stable, { signal: ac.signal });
      (async () => {
        try {
          for await (const _ of it) {
            this.#m.counter('watchEvents').inc(1);
            this.#poll();
          }
        } catch (err) {
          if (!ac.signal.aborted) {
            this.#m.counter('watchErrors').inc(1);
            this.#log.warn({ err }, 'store watch failed; polling only');
          }
        } finally {
          if (this.#watchAbort === ac) this.#watchAbort = undefined;
        }
      })();
      this.#poll();
    }
    if (!this.#pollTimer) this.#schedulePoll();
  }

  #schedulePoll(): void {
    const ms = this.#watchAbort ? this.#fallbackPollMs : this.#pollMs;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      if (this.#waiterCount === 0 || this.#closed) return;
      this.#poll();
      this.#schedulePoll();
    }, ms);
    this.#pollTimer.unref?.();
  }

  #stopPolling(): void {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#watchAbort?.abort();
    this.#watchAbort = undefined;
  }

  #poll(): void {
    if (this.#pollRunning) {
      this.#pollAgain = true;
      return;
    }
    this.#pollRunning = true;
    this.#pollOnce()
      .catch((err) => {
        this.#m.counter('pollErrors').inc(1);
        this.#log.warn({ err }, 'poll failed');
        this.#onError?.(err);
      })
      .finally(() => {
        this.#pollRunning = false;
        if (this.#pollAgain && this.#waiterCount > 0) {
          this.#pollAgain = false;
          this.#poll();
        }
      });
  }

  async #pollOnce(): Promise<void> {
    this.#m.counter('polls').inc(1);
    await this.#refresh();
    // The poller keeps its own view: a reader's refresh must not hide a change from it.
    if (this.#stableCounter === this.#polledCounter) return;
    this.#polledCounter = this.#stableCounter;
    const chans = [...this.#waiters.keys()];
    if (!chans.length) return;
    const versions = await this.store.getMany(chans.map((ch) => this.#keys.version(ch)));
    // Each waiter is compared with the versions its own check saw: no wake is missed and none is
    // spurious (a waiter whose check is still running compares with #polledVersions when it ends).
    const wake = new Set<Waiter>();
    chans.forEach((ch, i) => {
      const v = decodeClock(versions[i], false).counter;
      this.#polledVersions.set(ch, v);
      for (const w of this.#waiters.get(ch) ?? []) if (w.seen && v > (w.seen.get(ch) ?? 0)) wake.add(w);
    });
    for (const w of wake) w.wake(true);
    if (wake.size) this.#m.counter('wakeups').inc(wake.size);
  }

  // ---------------------------------------------------------------- lifecycle

  stats(): ChannelIndexStats {
    const snap = this.#m.snapshot();
    const s: ChannelIndexStats = {
      pending: this.#queue.length,
      blockedProducers: this.#blocked.length,
      waiters: this.#waiterCount,
      counter: this.#counter,
      readOnly: this.readOnly,
      counters: snap.counters,
      gauges: snap.gauges,
    };
    if (this.#failed) s.failed = String((this.#failed as Error)?.message ?? this.#failed);
    return s;
  }

  /** The stable clock as a since token (where every vbucket is fully indexed). */
  stableClock(): ReadonlyMap<number, number> {
    return this.#stable;
  }

  /** Writes what is queued, wakes every waiter (false), stops. Idempotent; the store stays open. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closed = true;
    this.#closePromise = (async () => {
      const err = ErrChannelIndexClosed();
      for (const b of this.#blocked.splice(0)) b.reject(err);
      const w = this.#workerWake;
      this.#workerWake = undefined;
      w?.();
      if (this.#worker) await this.#worker;
      for (const f of this.#flushWaiters.splice(0)) f.d.reject(err);
      this.#stopPolling();
      for (const set of [...this.#waiters.values()]) for (const wt of [...set]) wt.wake(false);
      await this.#ready.catch(() => {});
    })();
    return this.#closePromise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export function createChannelIndex(options: ChannelIndexOptions): ChannelIndex {
  return new ChannelIndex(options);
}
