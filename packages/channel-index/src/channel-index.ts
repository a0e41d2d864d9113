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
import {
  type Counter,
  createMetrics,
  type Histogram,
  type MetricsGroup,
  type MetricsRegistry,
} from '@tributary/metrics';
import { type ChannelsOf, type DocMeta, defaultChannelsOf } from './channels-of.js';
import {
  ErrBadChannel,
  ErrChannelIndexClosed,
  ErrChannelIndexFailed,
  ErrChannelIndexOldLayout,
  ErrChannelIndexReadOnly,
} from './errors.js';
import { INDEX_METRICS_HELP } from './index-metrics.js';
import {
  type ApplyContext,
  applyMutations,
  docMeta,
  type MetaItem,
  parseBody,
  type UpdateItem,
} from './internal/apply-mutations.js';
import { ChannelClock, hasReadableAbove } from './internal/channel-clock.js';
import { channelsField, PARSE } from './internal/channels-field.js';
import { ChunkWriter } from './internal/chunk-writer.js';
import {
  type ClockUpdates,
  decodeClockUpdates,
  encodeClockPairs,
  mergeUpdates,
  splitState,
  stateFields,
  withStateFields,
} from './internal/clock-log.js';
import { decodeClock, encodeClock, Keys } from './internal/keys.js';
import { Lru } from './internal/lru.js';
import { type BlockReads, type Candidate, pageCandidates } from './internal/read-blocks.js';
import {
  type BlockEntry,
  type DocRecord,
  decodeDoc,
  decodeEntries,
  EntryState,
  encodeDoc,
  encodeEntries,
  recordChannels,
  truncateBlock,
} from './internal/records.js';
import {
  addRollback,
  decodeRollbacks,
  encodeRollbacks,
  type RollbackHistory,
  rewindSince,
} from './internal/rollback-history.js';
import { copyResult, SharedAnswers } from './internal/shared-answers.js';
import { Waiter, Waiters } from './internal/waiters.js';
import { decodeSinceToken, encodeSince, type VectorClock } from './since-token.js';

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
  /** Seqnos of each vbucket per channel index block: a block holds seqnos [n*blockSize, (n+1)*blockSize) (default 100). */
  blockSize?: number;
  /**
   * Vbuckets that share a block, as Sync Gateway's index partitions (default 1024: a block holds a
   * channel's entries of every vbucket of a 1,024-vbucket bucket in its seqno range; 1: one vbucket
   * per block). A batch writes about one chunk per channel and partition it touches, so fewer,
   * wider blocks make fewer store writes; a reader filters the other vbuckets' entries out.
   */
  vbucketsPerBlock?: number;
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
  /** Document records the writer keeps (default 100,000). */
  docCacheSize?: number;
  /**
   * Blocks whose last chunk the writer keeps, to extend it instead of adding a key (default
   * 100,000; each holds under 1 KiB).
   */
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
  /**
   * The since asked for was taken before a rollback that rewound some of its vbuckets: results
   * restart from the rollback point there (documents the rollback reverted come again with their
   * restored state; ones that only existed above it are gone without an entry).
   */
  rolledBack?: true;
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

interface Snapshot {
  stable: Map<number, number>;
  clocks: Map<string, ReadonlyMap<number, number>>;
  /** The batch counter the snapshot covers. */
  gen: number;
  /** The rollback epoch and history it was taken under. */
  epoch: number;
  rollbacks: RollbackHistory;
}

/** A since argument decoded: epoch -1 for a clock passed as a Map (taken as current). */
interface SinceArg {
  clock: VectorClock;
  epoch: number;
  token: string;
}

/** A chunk a rollback keeps (its bytes truncated; entries once a compensation decodes it). */
interface KeptChunk {
  key: Buffer;
  bytes: Buffer;
  entries?: BlockEntry[];
  changed: boolean;
}

interface CommitGroup {
  ops: BatchOp[];
  /** Where each chunk put of the group stands in `ops`, by key object (#commit merges by it). */
  at: Map<Uint8Array, number>;
  /** Where each record put of the group stands in `ops`, by record key (likewise). */
  docAt: Map<string, number>;
  after: (() => void)[];
  batches: number;
  /** The write this group follows. */
  prev: Promise<void>;
}

const MAX_CHANNEL_BYTES = 200;
/** Most batches (and store operations) one group commit writes. */
const MAX_GROUP_BATCHES = 16;
const MAX_GROUP_OPS = 200_000;
/** A group held open under a backlog is written after this long at most (what a hold costs readers). */
const MAX_HOLD_MS = 100;
/**
 * The worker lets the event loop run at least this often. With a store that commits at once it
 * never waits on I/O, so a backlog would otherwise hold the loop until it is indexed (timers,
 * sockets and the `_changes` server of the same process would wait).
 */
const YIELD_MS = 10;
/** A block's last chunk is extended while it stays under this many bytes. */
const CHUNK_BYTES = 1024;
/** Clock records kept before a checkpoint writes the changed channels' full clocks. */
const CHECKPOINT_RECORDS = 64;
/** A read from a known complete position seeks chunks by batch only this many batches back. */
const MAX_CHUNK_SEEK_BATCHES = 64;
/** Changed channels kept pinned before a checkpoint. */
const MAX_DIRTY_CLOCKS = 10_000;

export function validateChannelName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0)
    throw ErrBadChannel(String(name), 'must be a non-empty string');
  if (name.includes('\u0000')) throw ErrBadChannel(name, 'contains NUL');
  if (Buffer.byteLength(name) > MAX_CHANNEL_BYTES)
    throw ErrBadChannel(name, `longer than ${MAX_CHANNEL_BYTES} bytes`);
  return name;
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
  /** (kept: woken readers count here once each, and a lookup by name per call is theirs to pay) */
  readonly #changesShared: Counter;
  readonly #keys: Keys;
  readonly #channelsOf: ChannelsOf;
  /** What applyMutations needs of the index (internal/apply-mutations.ts). */
  readonly #applyContext: ApplyContext;
  /** channelsField's list of names, reused for every document (read before the next one). */
  readonly #names: string[] = [];
  readonly #maxBatch: number;
  readonly #delayMs: number;
  /** The store's block size once loaded (the one the index was built with wins over the option). */
  #blockSize: number;
  /** The store's vbuckets per block once loaded (likewise). */
  #vbucketsPerBlock: number;
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
  readonly #e2e: Histogram;
  readonly #flushWaiters: { target: number; d: Deferred }[] = [];
  readonly #applied = new Map<number, number>(); // highest seqno accepted per vb (dedupe)
  readonly #enqueuedSeq = new Map<number, number>();
  readonly #metaLatest = new Map<number, Uint8Array>();
  readonly #docCache: Lru<string, DocRecord | null>;
  /** The store held no index when this writer loaded it (so far every record went through #docCache). */
  #docsFresh = false;
  /** Chunk puts per batch and the block tails they extend (internal/chunk-writer.ts). */
  readonly #chunks: ChunkWriter;
  #worker: Promise<void> | undefined;

  // shared state (writer: authoritative; reader: validated against the store)
  #counter = 0;
  readonly #stable = new Map<number, number>();
  /**
   * The writer builds a batch while the previous one commits: its own state (counter, stable
   * clock, caches, clocks) moves when a batch is built; what readers see (#counter, #stable,
   * wakes, flush) only when it is committed. At most one commit waits behind another.
   */
  #wCounter = 0;
  readonly #wStable = new Map<number, number>();
  #inflight: Promise<void> | undefined;
  /** Batches waiting for the store write in flight, to be written together after it (#commit). */
  #group: CommitGroup | undefined;
  /** Releases the open group's held write (see #commit), when one is held. */
  #held: (() => void) | undefined;
  /** The worker is waiting for the store's writes (#settled): no group may be held meanwhile. */
  #settling = false;
  /** When the worker last let the event loop run. */
  #yielded = 0;
  #stableCounter = -1;
  // The writer's exact channel clocks (only the worker fills and changes it).
  readonly #clocks: Lru<string, ChannelClock>;
  // Clock log (internal/clock-log.ts): records after #checkpoint are live.
  #checkpoint = 0;
  /** Rollbacks so far (in every since token it hands out) and what they rewound. */
  #epoch = 0;
  #rollbacks: RollbackHistory = { floor: 0, records: [] };
  /** Writer: clocks changed since the checkpoint (pinned: their `v/` value is behind). */
  readonly #dirty = new Map<string, ChannelClock>();
  /** Writer: counters of the live clock records (deleted by the next checkpoint). */
  #tailCounters: number[] = [];
  /** Reader: the live clock records merged, applied up to counter #tailTo. */
  #tail: ClockUpdates = new Map();
  #tailTo = -1;
  readonly #snapshots = new Map<string, { active?: Promise<Snapshot>; pending?: Promise<Snapshot> }>();
  #activeRefresh: Promise<void> | undefined;
  #pendingRefresh: Promise<void> | undefined;
  readonly #sinceCache = new Lru<string, SinceArg>(1024);
  readonly #resultCache = new Lru<string, Promise<{ cands: Candidate[]; lastSeq: string }>>(256);
  /** Positions this index handed out as complete: by channels and token, the batch they hold all of. */
  readonly #completeAt = new Lru<string, { gen: number; epoch: number }>(10_000);

  // notification
  readonly #waiters: Waiters;
  /** Writer: finished loading (its in-memory state answers waiters without a snapshot). */
  #loaded = false;
  /** Writer: recent answers of changes() by raw arguments, valid while the batch counter stands. */
  readonly #answers = new SharedAnswers(256);
  #pollTimer: NodeJS.Timeout | undefined;
  #watchAbort: AbortController | undefined;
  #pollRunning = false;
  /** Reader: per waited-on channel, the counter of the last batch that moved it. */
  readonly #lastChange = new Map<string, number>();
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
    this.#vbucketsPerBlock = int('vbucketsPerBlock', options.vbucketsPerBlock, 1024, 1);
    if (this.#vbucketsPerBlock > 65536) throw ErrInvalidArgument('vbucketsPerBlock', 'must be at most 65536');
    this.#maxPending = int('maxPending', options.maxPending, this.#maxBatch * 4, 1);
    this.#pollMs = int('pollIntervalMs', options.pollIntervalMs, 25, 1);
    this.#fallbackPollMs = int('fallbackPollIntervalMs', options.fallbackPollIntervalMs, 1000, 1);
    this.#maxLimit = int('maxLimit', options.maxLimit, 10_000, 1);
    this.#storeBodies = options.storeBodies ?? true;
    this.allDocsChannel = options.allDocsChannel === undefined ? '*' : options.allDocsChannel;
    if (this.allDocsChannel !== false) validateChannelName(this.allDocsChannel);
    this.#channelsOf = options.channelsOf ?? defaultChannelsOf;
    this.#applyContext = {
      applied: this.#applied,
      allDocsChannel: this.allDocsChannel,
      storeBodies: this.#storeBodies,
      channelsOf: (it, out) => {
        let raw: ReturnType<ChannelsOf> | typeof PARSE;
        try {
          // The default reads one field: found in the bytes without parsing the document (no
          // DocMeta either: it never reads one). A custom channelsOf gets the parsed body.
          raw = this.#channelsOf === defaultChannelsOf ? channelsField(it.value, this.#names) : PARSE;
          if (raw === PARSE) {
            const body = parseBody(it.value);
            raw =
              this.#channelsOf === defaultChannelsOf
                ? defaultChannelsOf(it.key, body, undefined as unknown as DocMeta)
                : this.#channelsOf(it.key, body, docMeta(it));
          }
        } catch (err) {
          this.#m.counter('channels_of_errors').inc(1);
          this.#log.warn({ err, key: it.key }, 'channelsOf threw; document indexed in no channel');
          return;
        }
        this.#normalizeChannels(out, raw);
      },
    };
    this.#onError = options.onError;
    this.#keys = new Keys(options.prefix ?? 'ci:');
    this.#checkpoints = options.checkpoints ?? datasourceCheckpoints(this.store, `${this.#keys.prefix}ck/`);
    this.#docCache = new Lru(int('docCacheSize', options.docCacheSize, 100_000, 0));
    this.#chunks = new ChunkWriter({
      blockPrefix: this.#keys.blockPrefix,
      tailCacheSize: int('blockCacheSize', options.blockCacheSize, 100_000, 0),
      chunkBytes: CHUNK_BYTES,
    });
    this.#clocks = new Lru(20_000);
    this.#log = componentLogger(options.logger, 'channel-index', { prefix: this.#keys.prefix });
    this.#m = (options.metrics ?? createMetrics()).group('channel-index').describe(INDEX_METRICS_HELP);
    this.#changesShared = this.#m.counter('changes_shared');
    this.#e2e = this.#m.histogram('e2e_latency_seconds');
    // (at 0 from the start, so a first rollback or failure is a change Prometheus sees)
    for (const n of ['mutations', 'deletions', 'entries', 'batches', 'duplicates', 'rollbacks', 'failures'])
      this.#m.counter(n);
    this.#m.histogram('commit_seconds');
    this.#m.histogram('batch_size');
    const waitersGauge = this.#m.gauge('waiters');
    this.#waiters = new Waiters({
      counted: (n) => waitersGauge.set(n),
      first: () => {
        if (this.readOnly) this.#startPolling();
      },
      empty: () => this.#stopPolling(),
      channelDone: (ch) => this.#lastChange.delete(ch),
    });
    this.#ready = this.#load().then(() => {
      this.#loaded = true;
    });
    this.#ready.catch((err) => this.#fail(err));
  }

  async #load(): Promise<void> {
    if (this.readOnly) {
      await this.#refresh();
      this.#log.debug({ counter: this.#counter, vbuckets: this.#stable.size }, 'loaded');
      return;
    }
    const raw = await this.store.get(this.#keys.stable);
    this.#docsFresh = raw === undefined;
    const d = decodeClock(raw);
    const st = splitState(d.counter, d.clock);
    this.#counter = st.counter;
    this.#wCounter = st.counter;
    this.#stableCounter = st.counter;
    for (const [vb, seq] of st.stable) {
      this.#stable.set(vb, seq);
      this.#wStable.set(vb, seq);
      this.#applied.set(vb, seq);
    }
    this.#checkpoint = st.checkpoint;
    this.#epoch = st.epoch;
    this.#adoptLayout(st);
    if (st.epoch > 0) this.#rollbacks = decodeRollbacks(await this.store.get(this.#keys.rollbacks));
    // Clock records after the checkpoint: their channels' clocks are `v/` plus the records.
    const records = await this.#readClockLog(st.checkpoint, st.counter);
    if (!records) throw ErrChannelIndexFailed('clock log records missing after the checkpoint');
    const merged: ClockUpdates = new Map();
    for (const [c, u] of records) {
      mergeUpdates(merged, u);
      this.#tailCounters.push(c);
    }
    const chans = [...merged.keys()];
    const vals = chans.length ? await this.store.getMany(chans.map((ch) => this.#keys.version(ch))) : [];
    chans.forEach((ch, i) => {
      const clock = ChannelClock.from(decodeClock(vals[i]).clock);
      for (const [vb, seq] of merged.get(ch)!) if (seq > (clock.get(vb) ?? 0)) clock.set(vb, seq);
      this.#dirty.set(ch, clock);
      this.#clocks.set(ch, clock);
    });
    this.#log.debug(
      { counter: this.#counter, vbuckets: this.#stable.size, records: records.length },
      'loaded',
    );
  }

  /**
   * The clock records (from, to] in counter order, or undefined when one is missing (a checkpoint
   * deleted it after the state record was read).
   */
  async #readClockLog(from: number, to: number): Promise<[number, ClockUpdates][] | undefined> {
    const out: [number, ClockUpdates][] = [];
    if (to <= from) return out;
    const K = this.#keys;
    for await (const { key, value } of this.store.scan({
      gte: K.clockLog(from + 1),
      lt: K.clockLog(to + 1),
    })) {
      const c = K.counterOfClockLog(key);
      if (c !== from + 1 + out.length) return undefined;
      out.push([c, decodeClockUpdates(value)]);
    }
    return out.length === to - from ? out : undefined;
  }

  /**
   * The writer's exact clocks of `chans` (distinct names), in their order: pinned, cached, or read
   * from `v/` when neither. (An array in the caller's order: a batch's clock pairs list its
   * channels in the same order, so applying them needs no lookup by name.)
   */
  async #writerClocks(chans: readonly string[]): Promise<ChannelClock[]> {
    const out = new Array<ChannelClock>(chans.length);
    const need: number[] = [];
    for (let j = 0; j < chans.length; j++) {
      const c = this.#dirty.get(chans[j]!) ?? this.#clocks.get(chans[j]!);
      if (c) out[j] = c;
      else need.push(j);
    }
    if (need.length) {
      await this.#settled();
      const vals = await this.#readMany(need.map((j) => this.#keys.version(chans[j]!)));
      for (let i = 0; i < need.length; i++) {
        const clock = ChannelClock.from(decodeClock(vals[i]).clock);
        out[need[i]!] = clock;
        this.#clocks.set(chans[need[i]!]!, clock);
      }
      this.#m.counter('clock_reads').inc(need.length);
    }
    return out;
  }

  #adoptLayout(st: { counter: number; blockSize: number; vbucketsPerBlock: number }): void {
    // (an index written before blocks held several vbuckets has entries without one: unreadable)
    if (st.counter > 0 && st.vbucketsPerBlock === 0) throw ErrChannelIndexOldLayout(this.#keys.prefix);
    // Block keys depend on them: the index goes on with the layout it was built with.
    const adopt = (name: string, configured: number, stored: number) => {
      if (stored === 0 || stored === configured) return configured;
      this.#log.warn({ configured, stored }, `${name} differs from the stored index; using the stored one`);
      return stored;
    };
    this.#blockSize = adopt('blockSize', this.#blockSize, st.blockSize);
    this.#vbucketsPerBlock = adopt('vbucketsPerBlock', this.#vbucketsPerBlock, st.vbucketsPerBlock);
  }

  /** Resolves once the index has read its state from the store. */
  ready(): Promise<void> {
    return this.#ready;
  }

  // ---------------------------------------------------------------- receiver (datasource)

  onError(err: unknown): void {
    this.#m.counter('datasource_errors').inc(1);
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
    // key and value may be views into a network buffer: keep copies. (channelsOf's DocMeta is
    // built from these fields only for a custom channelsOf: the default reads the body alone.)
    return this.#enqueue({
      t: 0,
      vb,
      seq,
      key: key.toString('utf8'),
      value: Buffer.from(req.value),
      deleted,
      cas: req.cas,
      flags: req.flags,
      expiry: req.expiry,
      revSeqno: req.revSeqno || undefined,
      datatype: req.datatype,
      xattrs: req.xattrs,
      at: performance.now(),
    });
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
    this.#m.counter('backpressure_waits').inc(1);
    return new Promise<void>((resolve, reject) => {
      this.#blocked.push({ item, resolve, reject });
      this.#m.gauge('blocked_producers').set(this.#blocked.length);
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
    this.#m.gauge('blocked_producers').set(this.#blocked.length);
  }

  async #run(): Promise<void> {
    try {
      await this.#ready;
      for (;;) {
        if (this.#failed) return;
        if (this.#queue.length === 0) {
          if (this.#closed) {
            await this.#settled();
            return;
          }
          // (idle: a held group is written now)
          this.#releaseGroup();
          await new Promise<void>((r) => {
            this.#workerWake = r;
          });
          this.#yielded = performance.now();
          continue;
        }
        if (this.#queue.length < this.#maxBatch && this.#delayMs > 0 && !this.#closed)
          await sleep(this.#delayMs);
        const items = this.#queue.splice(0, this.#maxBatch);
        this.#admit();
        this.#m.gauge('pending').set(this.#queue.length);
        await this.#process(items);
        // (the backlog is gone: the group this batch joined is written now)
        if (this.#queue.length < this.#maxBatch) this.#releaseGroup();
        const n = items.length;
        const done = () => {
          this.#committed += n;
          this.#resolveFlushes();
        };
        // (a batch that wrote nothing is done now, else when its commit is)
        if (this.#inflight) this.#inflight.then(done, () => {});
        else done();
        if (performance.now() - this.#yielded > YIELD_MS) {
          await new Promise<void>((r) => setImmediate(r));
          this.#yielded = performance.now();
        }
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
    this.#releaseGroup();
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
        // a rollback reads the store: everything before it must be committed
        await this.#settled();
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
        this.#m.counter('store_retries').inc(1);
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
        // (a UTF-16 unit is at most 3 UTF-8 bytes: short names need no native count)
        (ch.length * 3 <= MAX_CHANNEL_BYTES || Buffer.byteLength(ch) <= MAX_CHANNEL_BYTES)
      )
        out.add(ch);
      else this.#m.counter('bad_channels').inc(1);
    }
  }

  #docsKnown(): boolean {
    return this.#docsFresh && this.#docCache.evictions === 0;
  }

  async #commitData(items: Item[]): Promise<void> {
    const t0 = performance.now();
    const K = this.#keys;
    // 1. document records this batch needs
    const docs = new Map<string, DocRecord | null>();
    const missing: string[] = [];
    // (each item's record key made once: a string's hash is computed once and kept with it)
    const dks = items.map((it) => (it.t === 0 ? K.docString(it.vb, it.key) : ''));
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.t !== 0) continue;
      const dk = dks[i]!;
      if (docs.has(dk)) continue;
      const c = this.#docCache.get(dk);
      if (c !== undefined) docs.set(dk, c);
      else {
        docs.set(dk, null);
        // An index that started on an empty store and never evicted a record knows every
        // document it has: a miss is a new document, no read needed.
        if (!this.#docsKnown()) missing.push(dk);
      }
    }
    if (missing.length) {
      // (what the previous batch wrote must be in the store before it is read back)
      await this.#settled();
      const vals = await this.#readMany(missing.map((k) => Buffer.from(k)));
      for (let i = 0; i < missing.length; i++) {
        const v = vals[i];
        const rec = v ? decodeDoc(v, false) : null;
        docs.set(missing[i]!, rec);
        // (cached as read: the batch updates the record in place; null says the store has none)
        this.#docCache.set(missing[i]!, rec);
      }
    }

    // 2. apply in order (internal/apply-mutations.ts)
    const runs = this.#chunks.batch(this.#blockSize, this.#vbucketsPerBlock);
    const { stableUp, metaUp, dirtyDocs, created, mutations, deletions, duplicates } = applyMutations(
      items,
      dks,
      docs,
      runs,
      this.#applyContext,
    );
    // 3. channel clocks (exact in memory; read only those evicted) and the chunks this batch writes.
    const chans = runs.channelNames();
    // (clocks[j] is chans[j]'s; runs.clockPairs() lists the same channels in the same order)
    const clocks = chans.length ? await this.#writerClocks(chans) : [];
    const ops: BatchOp[] = [];
    const counter = stableUp.size > 0 ? this.#wCounter + 1 : this.#wCounter;
    const chunkOps = this.#chunks.write(runs, counter, ops);
    // (record puts follow the chunk puts, in the order of docKeys: a group merges them by key)
    const docKeys = [...dirtyDocs.keys()];
    for (const [dk, rec] of dirtyDocs) {
      ops.push({ type: 'put', key: Buffer.from(dk), value: encodeDoc(rec) });
      // (the body is in the record's bytes now; the cached record needs only what the next
      // mutation reads: every later write of it brings its own body)
      rec.body = undefined;
    }
    // One clock record per batch; every CHECKPOINT_RECORDS batches (or when too many channels are
    // pinned) the full clocks of the changed channels go to `v/` and the records they cover go.
    const checkpointNow =
      stableUp.size > 0 &&
      (this.#tailCounters.length >= CHECKPOINT_RECORDS || this.#dirty.size + chans.length > MAX_DIRTY_CLOCKS);
    if (stableUp.size > 0) {
      const pairs = runs.clockPairs();
      ops.push({ type: 'put', key: K.clockLog(counter), value: encodeClockPairs(pairs) });
      // The writer's clocks move now: the next batch builds on them while this one commits, and
      // readers bound every clock by the committed stable clock (a clock ahead of it is harmless).
      const { counts, vbs, seqs } = pairs;
      for (let j = 0, k = 0; j < pairs.channels; j++) {
        const clock = clocks[j]!;
        for (const end = k + counts[j]!; k < end; k++) clock.set(vbs[k]!, seqs[k]!);
      }
      // (pinned until a checkpoint writes them, this batch's included; the cache holds them again
      // from then on)
      for (let j = 0; j < chans.length; j++) this.#dirty.set(chans[j]!, clocks[j]!);
      if (checkpointNow) {
        for (const [ch, clock] of this.#dirty)
          ops.push({ type: 'put', key: K.version(ch), value: encodeClock(counter, clock) });
        for (const c of this.#tailCounters) ops.push({ type: 'del', key: K.clockLog(c) });
        this.#m.counter('checkpoints').inc(1);
      }
      // (the stable clock as it will be, without copying it: this batch's seqnos replace its own)
      const fields = stateFields(
        checkpointNow ? counter - 1 : this.#checkpoint,
        this.#epoch,
        this.#blockSize,
        this.#vbucketsPerBlock,
      );
      ops.push({ type: 'put', key: K.stable, value: encodeClock(counter, this.#wStable, stableUp, fields) });
    }
    for (const [vb, value] of metaUp) {
      const lastSeq = stableUp.get(vb) ?? this.#applied.get(vb) ?? 0;
      ops.push(...this.#checkpoints.ops(vb, value, lastSeq));
    }
    // 4. the writer's own state moves now (the next batch builds on it while this one commits)
    // (the other records this batch changed are cached already: updated in place)
    for (const dk of created) this.#docCache.set(dk, docs.get(dk)!);
    this.#chunks.keep();
    for (const [vb, seq] of stableUp) this.#applied.set(vb, seq);
    if (stableUp.size > 0) {
      if (checkpointNow) {
        // (unpinned: the cache holds them from now on)
        for (const [ch, clock] of this.#dirty) this.#clocks.set(ch, clock);
        this.#dirty.clear();
        this.#tailCounters = [counter];
        this.#checkpoint = counter - 1;
      } else {
        this.#tailCounters.push(counter);
      }
      this.#wCounter = counter;
      for (const [vb, seq] of stableUp) this.#wStable.set(vb, seq);
    }
    const counts = {
      nMut: mutations,
      nDel: deletions,
      nDup: duplicates,
      nEntries: runs.entries,
      nRemovals: runs.removals,
      nTombstones: runs.tombstones,
      meta: metaUp.size,
    };
    if (ops.length === 0) {
      this.#visible(items);
      return this.#committedBatch(items.length, t0, counts);
    }
    // 5. committed after the previous batch: what readers see moves, then they are woken
    await this.#commit(ops, chunkOps, docKeys, () => {
      if (stableUp.size > 0) {
        this.#counter = counter;
        for (const [vb, seq] of stableUp) this.#stable.set(vb, seq);
        this.#stableCounter = counter;
      }
      this.#visible(items);
      this.#committedBatch(items.length, t0, counts);
      if (chans.length > 0) this.#notify(chans);
    });
  }

  /** The batch is what readers see now: each mutation's time from its receiver call to here. */
  #visible(items: readonly Item[]): void {
    const now = performance.now();
    const h = this.#e2e;
    for (const it of items) if (it.t === 0 && it.at !== undefined) h.observe((now - it.at) / 1000);
  }

  /**
   * Group commit: a batch built while the previous store write is in flight waits in a group, and
   * the whole group goes to the store as one batch when that write ends. A store that commits fast
   * gets one write per batch; a slow one (an fsync, a round trip) gets fewer, larger writes instead
   * of a queue. Under a backlog (a full batch still queued once the previous write is done) the
   * group is also held open for the batches the worker builds next, until it is full or the
   * backlog is gone: a store that commits at once (the memory store) then merges a backlog's puts
   * the same way. Each batch's own effects (`after`) run in order once its group is written. At
   * most one group waits; a full one makes the worker wait for it to start (back-pressure).
   */
  async #commit(
    ops: BatchOp[],
    chunkOps: number,
    docKeys: readonly string[],
    after: () => void,
  ): Promise<void> {
    const g = this.#group;
    const docsEnd = chunkOps + docKeys.length;
    if (g && g.batches < MAX_GROUP_BATCHES && g.ops.length + ops.length <= MAX_GROUP_OPS) {
      // A block's last chunk, extended by this batch, was put by an earlier batch of the group
      // under the same key object (chunk-writer.ts reuses it): the later put replaces the earlier
      // one where it stands, so the store writes each extended chunk once per group. Only the same
      // key object is merged: no other op has that key between them (chunk keys name the batch that
      // started them, and a rollback waits for the group). A document's record, rewritten by
      // several batches of a group, is merged the same way by its key string (only batches put
      // records).
      const { at, docAt } = g;
      const n = g.ops.length;
      for (let k = 0; k < ops.length; k++) {
        const op = ops[k]!;
        const i = k < chunkOps ? at.get(op.key) : k < docsEnd ? docAt.get(docKeys[k - chunkOps]!) : undefined;
        if (i !== undefined) g.ops[i] = op;
        else {
          if (k < chunkOps) at.set(op.key, g.ops.length);
          else if (k < docsEnd) docAt.set(docKeys[k - chunkOps]!, g.ops.length);
          g.ops.push(op);
        }
      }
      this.#m.counter('merged_puts').inc(ops.length - (g.ops.length - n));
      g.after.push(after);
      g.batches++;
      this.#m.gauge('group_waiting').set(g.batches);
      if (g.batches >= MAX_GROUP_BATCHES) this.#releaseGroup();
      return;
    }
    // (a held group that cannot take this batch is written now)
    this.#releaseGroup();
    if (g) await g.prev.catch(() => {});
    const prev = this.#inflight ?? Promise.resolve();
    const at = new Map<Uint8Array, number>();
    for (let k = 0; k < chunkOps; k++) at.set(ops[k]!.key, k);
    const docAt = new Map<string, number>();
    for (let k = chunkOps; k < docsEnd; k++) docAt.set(docKeys[k - chunkOps]!, k);
    const group: CommitGroup = { ops: [...ops], at, docAt, after: [after], batches: 1, prev };
    this.#group = group;
    this.#m.gauge('group_waiting').set(1);
    const write = (async () => {
      await prev;
      if (
        this.#group === group &&
        group.batches < MAX_GROUP_BATCHES &&
        this.#queue.length >= this.#maxBatch &&
        !this.#settling &&
        !this.#closed &&
        !this.#failed
      ) {
        this.#m.counter('held_groups').inc(1);
        await new Promise<void>((resolve) => {
          // (the worker lets the event loop run every YIELD_MS, so this fires on time)
          const timer = setTimeout(() => {
            this.#m.counter('hold_timeouts').inc(1);
            this.#releaseGroup();
          }, MAX_HOLD_MS);
          this.#held = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      // (being written now: later batches form the next group)
      if (this.#group === group) {
        this.#group = undefined;
        this.#m.gauge('group_waiting').set(0);
      }
      await this.#writeOps(group.ops);
      if (group.batches > 1) this.#m.counter('grouped_batches').inc(group.batches - 1);
      for (const f of group.after) f();
    })();
    // (a failed write fails the index; whoever awaits it sees the error too)
    write.catch((err) => this.#fail(err));
    this.#inflight = write;
  }

  #releaseGroup(): void {
    const r = this.#held;
    this.#held = undefined;
    r?.();
  }

  /** Everything handed to the store so far is written (a held group is let go first). */
  async #settled(): Promise<void> {
    this.#releaseGroup();
    // (the write may reach its hold while this waits for it: it must not hold then)
    this.#settling = true;
    try {
      await this.#inflight;
    } finally {
      this.#settling = false;
    }
  }

  #committedBatch(
    n: number,
    t0: number,
    c: {
      nMut: number;
      nDel: number;
      nDup: number;
      nEntries: number;
      nRemovals: number;
      nTombstones: number;
      meta: number;
    },
  ): void {
    const ms = performance.now() - t0;
    this.#m.counter('batches').inc(1);
    this.#m.counter('mutations').inc(c.nMut);
    this.#m.counter('deletions').inc(c.nDel);
    this.#m.counter('duplicates').inc(c.nDup);
    this.#m.counter('entries').inc(c.nEntries);
    this.#m.counter('removals').inc(c.nRemovals);
    this.#m.counter('tombstones').inc(c.nTombstones);
    this.#m.counter('meta_writes').inc(c.meta);
    this.#m.histogram('batch_size').observe(n);
    this.#m.histogram('commit_seconds').observe(ms / 1000);
    if (this.#log.isLevelEnabled('trace'))
      this.#log.trace({ items: n, entries: c.nEntries, ms }, 'batch committed');
  }
  async #doRollback(vb: number, seq: number): Promise<void> {
    const K = this.#keys;
    this.#m.counter('rollbacks').inc(1);
    this.#log.info({ vb, seq }, 'rollback');
    // Rolled-back records and chunks are rewritten in the store: drop what the caches hold.
    this.#docsFresh = false;
    this.#chunks.clear();
    // Documents whose last change is above the rollback point.
    const affected = new Map<string, DocRecord>();
    for await (const { key, value } of this.store.scan({ prefix: K.docVbPrefix(vb) })) {
      const rec = decodeDoc(value);
      if (rec.seq > seq) affected.set(K.idOfDocKey(key), rec);
    }
    // The channels with entries of vb above the rollback point: those the affected documents are in,
    // and any whose clock says so (a document's record forgets channels it left).
    const channels = new Set<string>();
    for (const rec of affected.values()) for (const ch of rec.channels) channels.add(ch);
    for (const ch of await this.#channelsAbove(vb, seq)) channels.add(ch);
    const ops: BatchOp[] = [];
    // (a rollback is a batch of its own: chunks it adds are named by its counter)
    const counter = Math.max(this.#counter, this.#wCounter) + 1;
    const part = Math.floor(vb / this.#vbucketsPerBlock);
    // Latest surviving entry per (doc, channel), vb's highest surviving seqno per channel, and the
    // partition's chunks per channel as they stay (compensations below go into them).
    const survivors = new Map<string, Map<string, BlockEntry>>();
    const newClock = new Map<string, number>();
    const kept = new Map<string, KeptChunk[]>();
    for (const ch of channels) {
      let maxKept = 0;
      const list: KeptChunk[] = [];
      // (the partition's blocks hold other vbuckets' entries too: only vb's above seq go)
      for await (const { key, value } of this.store.scan({ prefix: K.blockPartPrefix(ch, part) })) {
        const { bytes, maxSeq, changed } = truncateBlock(value, vb, seq);
        if (bytes.length === 0) ops.push({ type: 'del', key: Buffer.from(key) });
        else list.push({ key: Buffer.from(key), bytes, changed });
        if (maxSeq > maxKept) maxKept = maxSeq;
        for (const e of decodeEntries(bytes, (evb) => evb === vb)) {
          if (!affected.has(e.id)) continue;
          let s = survivors.get(e.id);
          if (!s) survivors.set(e.id, (s = new Map()));
          const was = s.get(ch);
          if (!was || e.seq > was.seq) s.set(ch, e);
        }
      }
      kept.set(ch, list);
      newClock.set(ch, maxKept);
    }
    // A document the rollback takes out of a channel it was in (it joined above the rollback
    // point) gets a removal entry there at its restored seqno: a reader that saw it join learns it
    // left when it replays from there (the new branch has no entry of its own to say so). It goes
    // where vb's entries of its block stay in seqno order (readers rely on that): before vb's first
    // later entry, else at the block's end, else in a new chunk named by this rollback's counter.
    const compensate = (ch: string, e: BlockEntry) => {
      const list = kept.get(ch)!;
      const bk = K.blockString(ch, part, Math.floor(e.seq / this.#blockSize));
      const prefix = Buffer.from(bk);
      let last: KeptChunk | undefined;
      let placed = false;
      for (const c of list) {
        if (c.key.length !== prefix.length + 12 || !c.key.subarray(0, prefix.length).equals(prefix)) continue;
        last = c;
        c.entries ??= decodeEntries(c.bytes);
        const at = c.entries.findIndex((x) => x.vb === vb && x.seq > e.seq);
        if (at < 0) continue;
        c.entries.splice(at, 0, e);
        c.changed = true;
        placed = true;
        break;
      }
      if (!placed && last) {
        last.entries!.push(e);
        last.changed = true;
      } else if (!placed) {
        list.push({ key: K.chunkOf(bk, counter), bytes: Buffer.alloc(0), entries: [e], changed: true });
      }
      if (e.seq > newClock.get(ch)!) newClock.set(ch, e.seq);
      this.#m.counter('rollback_removals').inc(1);
    };
    // Readers resume this vbucket from the rollback point, or from below a reverted document's
    // restored entry so they get its restored state again.
    let replayFrom = seq;
    for (const [id, rec] of affected) {
      const dk = K.docString(vb, id);
      this.#docCache.delete(dk);
      const s = survivors.get(id);
      if (!s || s.size === 0) {
        // No entry of it survives (it was created above the rollback point). Readers may have seen
        // it in channels: keep a ghost record with those channels, so when the new branch streams
        // the document again, the channels it is no longer in get removal entries.
        if (rec.channels.length === 0) ops.push({ type: 'del', key: Buffer.from(dk) });
        else {
          // (gen 0: the new branch's first version of it is generation 1 again)
          const g: DocRecord = {
            seq: 0,
            gen: 0,
            rev: rec.rev,
            deleted: true,
            channels: rec.channels,
            joined: rec.joined.map(() => 0),
          };
          ops.push({ type: 'put', key: Buffer.from(dk), value: encodeDoc(g) });
        }
        continue;
      }
      let latest: BlockEntry | undefined;
      const chans = new Map<string, number>();
      for (const [ch, e] of s) {
        if (e.state === EntryState.Active) chans.set(ch, e.seq);
        if (!latest || e.seq > latest.seq) latest = e;
      }
      const gen = Number.parseInt(latest!.rev, 10) || rec.gen;
      for (let i = 0; i < rec.channels.length; i++) {
        const ch = rec.channels[i]!;
        if (rec.joined[i]! <= seq) continue;
        const was = s.get(ch);
        if (was?.state === EntryState.Active || was?.seq === latest!.seq) continue;
        compensate(ch, {
          vb,
          seq: latest!.seq,
          state: latest!.state === EntryState.Deleted ? EntryState.Deleted : EntryState.Removed,
          id,
          rev: latest!.rev,
        });
      }
      const restored: DocRecord = {
        seq: latest!.seq,
        gen,
        rev: latest!.rev,
        deleted: latest!.state === EntryState.Deleted,
        ...recordChannels(chans),
      };
      ops.push({ type: 'put', key: Buffer.from(dk), value: encodeDoc(restored) });
      replayFrom = Math.min(replayFrom, latest!.seq - 1);
    }
    for (const list of kept.values())
      for (const c of list)
        if (c.changed)
          ops.push({ type: 'put', key: c.key, value: c.entries ? encodeEntries(c.entries) : c.bytes });
    // A rollback is a full checkpoint (clocks go down, which clock records cannot say): every
    // changed clock and the rewound ones to `v/`, the records deleted, a new epoch.
    const names = [...newClock.keys()];
    const current = await this.#writerClocks(names);
    const clocks = new Map<string, ChannelClock>();
    for (let j = 0; j < names.length; j++) {
      const ch = names[j]!;
      const max = newClock.get(ch)!;
      const clock = ChannelClock.from(current[j]!);
      if (max > 0) clock.set(vb, max);
      else clock.delete(vb);
      clocks.set(ch, clock);
      ops.push({ type: 'put', key: K.version(ch), value: encodeClock(counter, clock) });
    }
    for (const [ch, clock] of this.#dirty)
      if (!clocks.has(ch)) ops.push({ type: 'put', key: K.version(ch), value: encodeClock(counter, clock) });
    for (const c of this.#tailCounters) ops.push({ type: 'del', key: K.clockLog(c) });
    const epoch = this.#epoch + 1;
    const history = addRollback(this.#rollbacks, { epoch, vb, replayFrom: Math.max(0, replayFrom) });
    ops.push({ type: 'put', key: K.rollbacks, value: encodeRollbacks(history) });
    const stable = new Map(this.#stable);
    stable.set(vb, Math.min(this.#stable.get(vb) ?? 0, seq));
    ops.push({
      type: 'put',
      key: K.stable,
      value: encodeClock(
        counter,
        withStateFields(stable, counter, epoch, this.#blockSize, this.#vbucketsPerBlock),
      ),
    });
    await this.#writeOps(ops);
    this.#counter = counter;
    this.#wCounter = counter;
    this.#stableCounter = counter;
    this.#stable.set(vb, stable.get(vb)!);
    this.#wStable.set(vb, stable.get(vb)!);
    this.#applied.set(vb, Math.min(this.#applied.get(vb) ?? 0, seq));
    for (const [ch, clock] of clocks) this.#clocks.set(ch, clock);
    this.#dirty.clear();
    this.#tailCounters = [];
    this.#checkpoint = counter;
    this.#epoch = epoch;
    this.#rollbacks = history;
    this.#resultCache.clear();
    this.#m.counter('rolled_back_docs').inc(affected.size);
    // Every reader is told: one whose position is past the rollback point resumes from it.
    this.#wakeAll(true);
  }

  /** Writer: the channels whose clock has vb above seq (`v/` as of the checkpoint, then the pinned). */
  async #channelsAbove(vb: number, seq: number): Promise<string[]> {
    const out = new Set<string>();
    const prefix = this.#keys.versionPrefix;
    for await (const { key, value } of this.store.scan({ prefix })) {
      const ch = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', prefix.length);
      if (!this.#dirty.has(ch) && (decodeClock(value).clock.get(vb) ?? 0) > seq) out.add(ch);
    }
    for (const [ch, clock] of this.#dirty) if ((clock.get(vb) ?? 0) > seq) out.add(ch);
    return [...out];
  }

  // ---------------------------------------------------------------- reads

  #checkOpen(): void {
    if (this.#closed) throw ErrChannelIndexClosed();
  }

  #channelList(channels: readonly string[]): string[] {
    if (!Array.isArray(channels)) throw ErrInvalidArgument('channels', 'must be an array of channel names');
    if (channels.length === 1) return [validateChannelName(channels[0])];
    const out = new Set<string>();
    for (const ch of channels) out.add(validateChannelName(ch));
    return [...out].sort();
  }

  /** The current position of the whole index (what since=now means). */
  async currentSince(): Promise<string> {
    this.#checkOpen();
    await this.#ready;
    if (this.readOnly) await this.#refresh();
    return encodeSince(this.#stable, this.#epoch);
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

  /**
   * Read-only: reloads the state record and, if it moved, the clock records since the last one
   * seen, and wakes the waiters of the channels they moved (or every waiter when records were
   * checkpointed away or a rollback happened: then what moved is unknown).
   */
  async #doRefresh(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const raw = decodeClock(await this.store.get(this.#keys.stable));
      const st = splitState(raw.counter, raw.clock);
      if (st.counter === this.#stableCounter && st.epoch === this.#epoch) return;
      const reset = st.epoch !== this.#epoch || st.checkpoint > this.#tailTo || st.counter < this.#tailTo;
      const records = await this.#readClockLog(reset ? st.checkpoint : this.#tailTo, st.counter);
      if (!records) {
        // a checkpoint deleted records between the two reads: read the state again
        if (attempt < 20) continue;
        throw ErrChannelIndexFailed('clock log records keep disappearing');
      }
      let rollbacks = this.#rollbacks;
      if (st.epoch !== this.#epoch)
        rollbacks =
          st.epoch > 0
            ? decodeRollbacks(await this.store.get(this.#keys.rollbacks))
            : { floor: 0, records: [] };
      this.#adoptLayout(st);
      this.#stable.clear();
      for (const [vb, v] of st.stable) this.#stable.set(vb, v);
      this.#stableCounter = st.counter;
      this.#counter = Math.max(this.#counter, st.counter);
      this.#checkpoint = st.checkpoint;
      this.#epoch = st.epoch;
      this.#rollbacks = rollbacks;
      if (reset) this.#tail = new Map();
      for (const [, u] of records) mergeUpdates(this.#tail, u);
      this.#tailTo = st.counter;
      this.#m.counter('stable_reloads').inc(1);
      if (reset) {
        this.#resultCache.clear();
        for (const ch of this.#waiters.byChannel.keys()) this.#lastChange.set(ch, st.counter);
        this.#wakeAll(true, (w) => w.seen !== undefined);
      } else {
        const wake = new Set<Waiter>();
        for (const [c, u] of records)
          for (const ch of u.keys()) {
            const set = this.#waiters.byChannel.get(ch);
            if (!set) continue;
            this.#lastChange.set(ch, c);
            for (const w of set) if (w.seen !== undefined && w.seen < c) wake.add(w);
          }
        for (const w of wake) w.wake(true);
        if (wake.size) this.#m.counter('wakeups').inc(wake.size);
      }
      return;
    }
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
    const epoch = this.#epoch;
    const rollbacks = this.#rollbacks;
    const clocks = new Map<string, ReadonlyMap<number, number>>();
    const missing: string[] = [];
    for (const ch of channels) {
      // The writer's clocks are exact (pinned or cached); a read-only index reads `v/` and merges
      // the clock records it has applied.
      const c = this.readOnly ? undefined : (this.#dirty.get(ch) ?? this.#clocks.peek(ch));
      if (c) clocks.set(ch, c);
      else missing.push(ch);
    }
    if (missing.length) {
      const tail = this.#tail;
      const vals = await this.store.getMany(missing.map((ch) => this.#keys.version(ch)));
      missing.forEach((ch, i) => {
        const { clock } = decodeClock(vals[i]);
        if (this.readOnly)
          for (const [vb, seq] of tail.get(ch) ?? []) if (seq > (clock.get(vb) ?? 0)) clock.set(vb, seq);
        // (a writer re-checks: a batch may have pinned this channel while we read)
        clocks.set(ch, (!this.readOnly && this.#dirty.get(ch)) || clock);
      });
      this.#m.counter('clock_reads').inc(missing.length);
    }
    return { stable, clocks, gen, epoch, rollbacks };
  }

  /**
   * A since option as a clock, its rollback epoch and a token; tokens decode once (10,000 readers
   * share a few). A clock passed as a Map is taken as of the current epoch.
   */
  async #since(since: ChangesOptions['since']): Promise<SinceArg> {
    return this.#sinceSync(since === 'now' ? await this.currentSince() : since);
  }

  /** #since for anything but "now" (shared, read-only objects: callers never change them). */
  #sinceSync(since: ChangesOptions['since']): SinceArg {
    if (since instanceof Map) return { clock: since, epoch: -1, token: encodeSince(since, this.#epoch) };
    const token = since === undefined || since === '' ? '0' : since;
    let d = this.#sinceCache.get(token);
    if (!d) {
      const { clock, epoch } = decodeSinceToken(token);
      d = { clock, epoch, token };
      this.#sinceCache.set(token, d);
    }
    return d;
  }

  /** `since` rewound past the rollbacks that happened after its epoch (see rollback-history.ts). */
  #rewind(since: SinceArg, snap: Snapshot): SinceArg & { rolledBack?: true } {
    if (since.epoch < 0 || since.epoch >= snap.epoch) return since;
    const r = rewindSince(since.clock, since.epoch, snap.rollbacks);
    if (!r.changed) return since;
    return { clock: r.clock, epoch: snap.epoch, token: encodeSince(r.clock, snap.epoch), rolledBack: true };
  }

  async #candidates(
    channels: string[],
    since0: SinceArg,
    limit: number,
    activeOnly: boolean,
  ): Promise<{ cands: Candidate[]; lastSeq: string; rolledBack: boolean }> {
    const snap = await this.#snapshot(channels);
    const { clock: since, token, rolledBack = false } = this.#rewind(since0, snap);
    const key = `${snap.gen}|${snap.epoch}|${channels.join('\u0000')}|${token}|${limit}|${activeOnly ? 1 : 0}`;
    // A position this index handed out complete (everything up to batch g read) needs only what
    // later batches wrote: the chunks they started and the one they extended, read newest first.
    const known = this.#completeAt.peek(`${channels.join('\u0000')}|${token}`);
    const sinceGen =
      known && known.epoch === snap.epoch && snap.gen - known.gen <= MAX_CHUNK_SEEK_BATCHES
        ? known.gen
        : undefined;
    let p = this.#resultCache.get(key);
    if (p) this.#m.counter('changes_coalesced').inc(1);
    else {
      // Shared by every caller asking the same question of the same state (10,000 woken longpolls
      // on one channel cost one read), so it takes no caller's signal.
      if (sinceGen !== undefined) this.#m.counter('reads_from_batch').inc(1);
      p = this.#page(snap, channels, since, limit, activeOnly, sinceGen);
      this.#resultCache.set(key, p);
      const q = p;
      p.catch(() => {
        if (this.#resultCache.peek(key) === q) this.#resultCache.delete(key);
      });
    }
    const r = await p;
    return { ...r, rolledBack };
  }

  /** One page (internal/read-blocks.ts), its lastSeq, and whether that position is complete. */
  async #page(
    snap: Snapshot,
    channels: string[],
    since: VectorClock,
    limit: number,
    activeOnly: boolean,
    sinceGen: number | undefined,
  ): Promise<{ cands: Candidate[]; lastSeq: string }> {
    const reads: BlockReads = {
      store: this.store,
      keys: this.#keys,
      blockSize: this.#blockSize,
      vbucketsPerBlock: this.#vbucketsPerBlock,
      onAbandoned: () => this.#m.counter('backward_reads_abandoned').inc(1),
    };
    const { cands, next, complete } = await pageCandidates(
      reads,
      snap,
      channels,
      since,
      limit,
      activeOnly,
      sinceGen,
    );
    const lastSeq = encodeSince(next, snap.epoch);
    // Every read went to its end and the page took everything: lastSeq holds all that batch
    // snap.gen and those before it wrote in these channels.
    if (complete)
      this.#completeAt.set(`${channels.join('\u0000')}|${lastSeq}`, { gen: snap.gen, epoch: snap.epoch });
    return { cands, lastSeq };
  }

  /**
   * Changes in `channels` after `since`, each document once at its latest change, in a stable
   * order (seqno, then vbucket). lastSeq resumes exactly after the last entry returned.
   */
  changes(options: ChangesOptions): Promise<ChangesResult> {
    // (not async: 10,000 woken longpolls each call this, and every promise and turn it saves is
    // theirs; errors still come back as rejections)
    try {
      this.#checkOpen();
      options.signal?.throwIfAborted();
      // A writer shares one answer among every caller asking the same thing while no batch commits
      // (internal/shared-answers.ts).
      const a =
        this.readOnly || !this.#loaded || options.includeDocs
          ? undefined
          : this.#answers.get(options, this.#counter, this.#epoch, () =>
              this.#changes({ ...options, signal: undefined }),
            );
      if (a === undefined) return this.#changes(options);
      this.#changesShared.inc(1);
      if (a.result) return Promise.resolve(copyResult(a.result));
      const signal = options.signal;
      if (!signal) return a.p.then(copyResult);
      return a.p.then((r) => {
        signal.throwIfAborted();
        return copyResult(r);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #changes(options: ChangesOptions): Promise<ChangesResult> {
    const channels = this.#channelList(options.channels);
    const limit = options.limit ?? this.#maxLimit;
    if (!Number.isInteger(limit) || limit < 1)
      throw ErrInvalidArgument('limit', 'must be a positive integer');
    const since = await this.#since(options.since);
    this.#m.counter('changes_calls').inc(1);
    if (channels.length === 0) return { results: [], lastSeq: since.token };
    const { cands, lastSeq, rolledBack } = await this.#candidates(
      channels,
      since,
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
    return rolledBack ? { results, lastSeq, rolledBack: true } : { results, lastSeq };
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
      const visible = rec?.channels.some((ch) => asked.has(ch));
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
  waitForChanges(options: WaitOptions): Promise<boolean> {
    // (not async, as changes(): one promise per waiter, the waiter's own; errors are rejections)
    try {
      this.#checkOpen();
      const channels = this.#channelList(options.channels);
      if (options.since === 'now')
        return this.#since('now').then((since) => this.#waitFrom(channels, since, options));
      return this.#waitFrom(channels, this.#sinceSync(options.since), options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A wait on no channel: the timeout (or the abort), then false. */
  async #waitForNothing(options: WaitOptions): Promise<boolean> {
    const signal = options.signal;
    if (options.timeoutMs !== undefined)
      await sleep(options.timeoutMs, undefined, { signal }).catch(() => {});
    if (signal?.aborted) throw ErrAborted('waitForChanges', { cause: signal.reason });
    return false;
  }

  #waitFrom(channels: string[], since: SinceArg, options: WaitOptions): Promise<boolean> {
    const signal = options.signal;
    if (signal?.aborted) throw ErrAborted('waitForChanges', { cause: signal.reason });
    if (channels.length === 0) return this.#waitForNothing(options);
    // A writer answers from its in-memory clocks, and registers in the same turn: every later
    // commit wakes it (no snapshot, no store read per waiter).
    const now = this.#writerHasNew(channels, since);
    if (now === true) return Promise.resolve(true);
    const waiter = new Waiter(this.#waiters, channels, signal, options.timeoutMs);
    if (now === false) return waiter.promise;
    // Registered first, then checked: a write between the two still wakes us.
    this.#snapshot(channels).then(
      (snap) => {
        const { clock, rolledBack } = this.#rewind(since, snap);
        // A position from before a rollback that rewound it: the reader must read again now.
        if (rolledBack || this.#hasNew(snap, clock)) return waiter.wake(true);
        if (!this.readOnly) return;
        // From now on the poller wakes this waiter when a clock record after the batch this check
        // covered moves one of its channels; one that already did is a change we missed.
        waiter.seen = snap.gen;
        for (const ch of channels) if ((this.#lastChange.get(ch) ?? -1) > snap.gen) return waiter.wake(true);
      },
      (err) => waiter.fail(err),
    );
    return waiter.promise;
  }

  /**
   * The writer's answer to "has one of `channels` entries after `since`?" from memory, or
   * undefined when it cannot tell without reading (read-only, loading, a clock not in memory).
   */
  #writerHasNew(channels: string[], since: SinceArg): boolean | undefined {
    if (this.readOnly || !this.#loaded) return undefined;
    if (
      since.epoch >= 0 &&
      since.epoch < this.#epoch &&
      rewindSince(since.clock, since.epoch, this.#rollbacks).changed
    )
      return true;
    let found = false;
    for (const ch of channels) {
      const clock = this.#dirty.get(ch) ?? this.#clocks.peek(ch);
      if (!clock) return undefined;
      if (!found) found = hasReadableAbove(clock, since.clock, this.#stable);
    }
    return found;
  }

  #hasNew(
    snap: { stable: Map<number, number>; clocks: Map<string, ReadonlyMap<number, number>> },
    since: VectorClock,
  ): boolean {
    for (const clock of snap.clocks.values()) if (hasReadableAbove(clock, since, snap.stable)) return true;
    return false;
  }

  /** Wakes every waiter (that `only` accepts). */
  #wakeAll(changed: boolean, only?: (w: Waiter) => boolean): void {
    const n = this.#waiters.wakeAll(changed, only);
    if (n && changed) this.#m.counter('wakeups').inc(n);
  }

  #notify(channels: Iterable<string>): void {
    const n = this.#waiters.wakeChannels(channels, true);
    if (n) this.#m.counter('wakeups').inc(n);
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
            this.#m.counter('watch_events').inc(1);
            this.#poll();
          }
        } catch (err) {
          if (!ac.signal.aborted) {
            this.#m.counter('watch_errors').inc(1);
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
      if (this.#waiters.count === 0 || this.#closed) return;
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
        this.#m.counter('poll_errors').inc(1);
        this.#log.warn({ err }, 'poll failed');
        this.#onError?.(err);
      })
      .finally(() => {
        this.#pollRunning = false;
        if (this.#pollAgain && this.#waiters.count > 0) {
          this.#pollAgain = false;
          this.#poll();
        }
      });
  }

  async #pollOnce(): Promise<void> {
    this.#m.counter('polls').inc(1);
    // The refresh reads the state record and, when it moved, the clock records, and wakes.
    await this.#refresh();
  }

  // ---------------------------------------------------------------- lifecycle

  stats(): ChannelIndexStats {
    const snap = this.#m.snapshot();
    const s: ChannelIndexStats = {
      pending: this.#queue.length,
      blockedProducers: this.#blocked.length,
      waiters: this.#waiters.count,
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
      this.#wakeAll(false);
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
