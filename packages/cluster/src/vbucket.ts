import { randomBytes } from 'node:crypto';

/** What kind of change an item records. */
export const ItemKind = { Mutation: 0, Deletion: 1, Expiration: 2, SystemEvent: 3 } as const;
export type ItemKind = (typeof ItemKind)[keyof typeof ItemKind];

/**
 * One version of one document. Immutable once appended (a change appends a new Item), so a
 * snapshot that holds references stays consistent while writers continue.
 */
export class Item {
  /** Set when a newer version of the same key exists. */
  stale = false;
  /** The version this one replaced (kept only while within the history tail; see VBucket.compact). */
  prev: Item | undefined = undefined;
  /** The version that replaced this one. */
  next: Item | undefined = undefined;
  seqno = 0;
  /**
   * CAS split into 32-bit halves for fast encoding, as int32 bit patterns: small integers stay
   * inline in the object, where a value ≥ 2^31 would be a separate boxed number (one more cache
   * miss per item the DCP producer encodes).
   */
  readonly casHi: number;
  readonly casLo: number;

  constructor(
    /** The document key as a latin1 string (one char per byte): map key and wire bytes at once. */
    readonly keyStr: string,
    readonly value: Buffer,
    readonly datatype: number,
    readonly flags: number,
    /** Absolute Unix seconds, 0 = never. */
    readonly expiry: number,
    readonly cas: bigint,
    readonly revSeqno: number,
    readonly kind: ItemKind,
    /** Unix seconds of the deletion (deletions and expirations). */
    readonly deleteTime: number,
  ) {
    this.casHi = Number(BigInt.asIntN(32, cas >> 32n));
    this.casLo = Number(BigInt.asIntN(32, cas));
  }

  /** The key bytes (a copy). */
  get key(): Buffer {
    return Buffer.from(this.keyStr, 'latin1');
  }

  get deleted(): boolean {
    return this.kind !== ItemKind.Mutation;
  }
}

export interface FailoverEntry {
  vbucketUuid: bigint;
  seqno: number;
}

export const MAX_FAILOVER_ENTRIES = 25;

/** Fewest superseded log entries worth a compaction pass (see VBucket#compactDue). */
export const COMPACT_MIN_DEAD = 1024;

/** Random non-zero 48-bit vbucket UUID, as kv_engine generates them. */
export function newVbucketUuid(): bigint {
  for (;;) {
    const b = randomBytes(6);
    const v = BigInt(`0x${b.toString('hex')}`);
    if (v !== 0n) return v;
  }
}

export interface RollbackCheck {
  startSeqno: number;
  vbucketUuid: bigint;
  snapStart: number;
  snapEnd: number;
  strict: boolean;
  ignorePurgedTombstones: boolean;
  /** The client's `purge_seqno` JSON value when it sent one. */
  clientPurgeSeqno?: number;
}

/**
 * kv_engine's FailoverTable::needsRollback (engines/ep/src/failover-table.cc) over a log kept
 * newest first. Returns the seqno to roll back to, or undefined when the stream may proceed.
 */
export function needsRollback(
  log: readonly FailoverEntry[],
  highSeqno: number,
  purgeSeqno: number,
  req: RollbackCheck,
): number | undefined {
  const { startSeqno, vbucketUuid } = req;
  let { snapStart, snapEnd } = req;
  if (startSeqno === 0 && (vbucketUuid === 0n || !req.strict)) return undefined;
  const purge = req.ignorePurgedTombstones ? 0 : purgeSeqno;
  if (startSeqno > 0 && startSeqno < purge && req.clientPurgeSeqno !== purgeSeqno) return 0;
  const idx = log.findIndex((e) => e.vbucketUuid === vbucketUuid);
  if (idx < 0) return 0;
  const upper = idx === 0 ? highSeqno : log[idx - 1].seqno;
  if (startSeqno === snapStart) snapEnd = startSeqno;
  if (snapEnd <= upper) return undefined;
  if (startSeqno === snapEnd) snapStart = startSeqno;
  return Math.min(upper, snapStart);
}

export interface VBucketOptions {
  /** Items per checkpoint before a new one opens (kv_engine chk_max_items). */
  checkpointMaxItems?: number;
  /** Checkpoints kept "in memory"; a stream starting before them backfills from history (disk snapshot). */
  checkpointsInMemory?: number;
  /** Superseded versions newer than high seqno − historyTail are kept so that failover can lose the last mutations. */
  historyTail?: number;
}

/**
 * The state of one vbucket: documents, the seqno-ordered history (deduplicated to the newest
 * version of each key once older ones fall out of the history tail), the failover log
 * (newest first, at most 25 entries) and checkpoint boundaries that bound snapshots.
 */
export class VBucket {
  highSeqno = 0;
  purgeSeqno = 0;
  /** Highest seqno known to be in the store (OBSERVE_SEQNO's last persisted seqno). */
  persistedSeqno = 0;
  /** Called when persistedSeqno rises (durable writes wait on it). */
  readonly persistListeners = new Set<() => void>();
  failoverLog: FailoverEntry[] = [];
  readonly map = new Map<string, Item>();
  /** Seqno-ascending history; stale entries (superseded) are skipped by readers and compacted away. */
  log: Item[] = [];
  /** Superseded entries still in `log`. */
  staleCount = 0;
  /** How many times `log` was compacted (for tests and stats). */
  compactions = 0;
  /** Superseded entries the last compaction had to keep (inside the history tail). */
  #staleKept = 0;
  /** First seqno of each checkpoint still tracked, ascending; the last one is the open checkpoint. */
  checkpointStarts: number[] = [1];
  checkpointId = 1;
  #openItems = 0;
  /** Called after every append/truncate (streams wake up). */
  readonly listeners = new Set<() => void>();
  /** Keys changed since the last flush (latest item, persistence reads it). */
  readonly dirty = new Map<string, Item | null>();
  /** False for ephemeral buckets: nothing is persisted, so nothing is tracked. */
  trackDirty = true;
  metaDirty = true;
  readonly checkpointMaxItems: number;
  readonly checkpointsInMemory: number;
  readonly historyTail: number;

  constructor(
    readonly id: number,
    options: VBucketOptions = {},
  ) {
    this.checkpointMaxItems = options.checkpointMaxItems ?? 10_000;
    this.checkpointsInMemory = options.checkpointsInMemory ?? 2;
    this.historyTail = options.historyTail ?? 1024;
  }

  get uuid(): bigint {
    return this.failoverLog[0]?.vbucketUuid ?? 0n;
  }

  /**
   * A new failover entry as when the vbucket becomes active (or after an unclean restart):
   * entries above the high seqno are dropped, {random uuid, high seqno} pushed, at most 25 kept.
   */
  addFailoverEntry(uuid: bigint = newVbucketUuid()): FailoverEntry {
    this.failoverLog = this.failoverLog.filter((e) => e.seqno <= this.highSeqno);
    const entry = { vbucketUuid: uuid, seqno: this.highSeqno };
    this.failoverLog.unshift(entry);
    if (this.failoverLog.length > MAX_FAILOVER_ENTRIES) this.failoverLog.length = MAX_FAILOVER_ENTRIES;
    this.metaDirty = true;
    return entry;
  }

  /**
   * Set while documents of a dropped or flushed collection are still here (until the background
   * purge removes them): such items are "logically deleted", as kv_engine calls them, and reads
   * never see them.
   */
  hidden: ((it: Item) => boolean) | undefined = undefined;

  get(keyStr: string): Item | undefined {
    const it = this.map.get(keyStr);
    if (it !== undefined && this.hidden?.(it)) return undefined;
    return it;
  }

  /** A flush wrote everything up to `seqno` to the store. */
  persisted(seqno: number): void {
    const s = Math.min(seqno, this.highSeqno);
    if (s <= this.persistedSeqno) return;
    this.persistedSeqno = s;
    for (const l of this.persistListeners) l();
  }

  /** Appends a new version (assigns the seqno), supersedes the old one and wakes streams. */
  append(item: Item): Item {
    return this.appendReplacing(item, this.map.get(item.keyStr));
  }

  /** append() when the caller already looked up the current version (`old`, or undefined). */
  appendReplacing(item: Item, old: Item | undefined): Item {
    item.seqno = ++this.highSeqno;
    if (old) {
      old.stale = true;
      old.next = item;
      item.prev = old;
      this.staleCount++;
    }
    this.map.set(item.keyStr, item);
    this.log.push(item);
    if (this.trackDirty) this.dirty.set(item.keyStr, item);
    this.metaDirty = true;
    if (++this.#openItems >= this.checkpointMaxItems) this.#newCheckpoint();
    if (this.#compactDue()) this.compact();
    for (const l of this.listeners) l();
    return item;
  }

  /** Loads a persisted item (restart): no seqno assignment, no notifications. */
  restore(item: Item): void {
    const old = this.map.get(item.keyStr);
    if (old && old.seqno > item.seqno) return;
    this.map.set(item.keyStr, item);
  }

  /** After restore(): rebuild the history in seqno order. */
  rebuildLog(highSeqno: number): void {
    this.log = [...this.map.values()].sort((a, b) => a.seqno - b.seqno);
    this.staleCount = 0;
    this.#staleKept = 0;
    this.highSeqno = Math.max(highSeqno, this.log.length ? this.log[this.log.length - 1].seqno : 0);
    this.persistedSeqno = this.highSeqno;
    this.checkpointStarts = [this.highSeqno + 1];
    this.#openItems = 0;
  }

  #newCheckpoint(): void {
    this.checkpointId++;
    this.checkpointStarts.push(this.highSeqno + 1);
    const keep = Math.max(this.checkpointsInMemory, 1) + 1;
    if (this.checkpointStarts.length > keep)
      this.checkpointStarts.splice(0, this.checkpointStarts.length - keep);
    this.#openItems = 0;
  }

  /** Closes the open checkpoint if it has items (used when the vbucket changes hands). */
  closeCheckpoint(): void {
    if (this.#openItems > 0) this.#newCheckpoint();
  }

  /** The first seqno still covered by an in-memory checkpoint. */
  get memoryStart(): number {
    return this.checkpointStarts[0];
  }

  /** Last seqno of the checkpoint containing `seqno` (the high seqno for the open checkpoint). */
  checkpointEndFor(seqno: number): number {
    const s = this.checkpointStarts;
    for (let i = 0; i < s.length; i++) {
      if (s[i] > seqno) return Math.min(s[i] - 1, this.highSeqno);
    }
    return this.highSeqno;
  }

  /** Whether `seqno` is the first seqno of a checkpoint. */
  isCheckpointStart(seqno: number): boolean {
    return this.checkpointStarts.includes(seqno);
  }

  /** Index of the first log entry with seqno > `after`. */
  indexAfter(after: number): number {
    const log = this.log;
    let lo = 0;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid].seqno <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The current (non-superseded) items with after < seqno ≤ upTo, in seqno order: a
   * deduplicated snapshot. Holding the returned references keeps the snapshot consistent.
   */
  collect(after: number, upTo: number, out: Item[] = []): Item[] {
    const log = this.log;
    for (let i = this.indexAfter(after); i < log.length; i++) {
      const it = log[i];
      if (it.seqno > upTo) break;
      if (!it.stale) out.push(it);
    }
    return out;
  }

  /**
   * Compaction is due once the superseded entries added since the last one exceed both
   * COMPACT_MIN_DEAD and half the live entries. Counting only new ones is the hysteresis: the
   * entries a compaction must keep (inside the history tail) never make the next write compact
   * again, so the O(log) pass runs at most once per max(COMPACT_MIN_DEAD, live / 2) writes.
   */
  #compactDue(): boolean {
    const dead = this.staleCount - this.#staleKept;
    return dead > COMPACT_MIN_DEAD && dead * 2 > this.log.length - this.staleCount;
  }

  /**
   * Drops superseded versions that fell out of the history tail. Versions newer than
   * high − historyTail stay so that `truncate` can restore them.
   */
  compact(): void {
    const keepAfter = this.highSeqno - this.historyTail;
    const out: Item[] = [];
    let stale = 0;
    for (const it of this.log) {
      if (it.stale && it.next && it.next.seqno <= keepAfter) {
        it.next.prev = undefined;
        it.next = undefined;
        it.prev = undefined;
        continue;
      }
      if (it.stale) stale++;
      out.push(it);
    }
    this.log = out;
    this.staleCount = stale;
    this.#staleKept = stale;
    this.compactions++;
  }

  /**
   * Loses the newest `n` seqnos, as a replica that had not received them would: documents
   * return to their previous version (or vanish). Returns the new high seqno.
   */
  truncate(n: number): number {
    const target = Math.max(0, this.highSeqno - n);
    while (this.log.length && this.log[this.log.length - 1].seqno > target) {
      const it = this.log.pop()!;
      if (it.stale) {
        this.staleCount--;
        continue;
      }
      const prev = it.prev;
      if (prev && prev.seqno <= target) {
        prev.stale = false;
        prev.next = undefined;
        this.staleCount--;
        this.map.set(it.keyStr, prev);
        if (this.trackDirty) this.dirty.set(it.keyStr, prev);
      } else if (prev) {
        // prev is itself being dropped; walk back to the newest surviving version.
        let p: Item | undefined = prev;
        while (p && p.seqno > target) p = p.prev;
        if (p) {
          p.stale = false;
          p.next = undefined;
          this.map.set(it.keyStr, p);
          if (this.trackDirty) this.dirty.set(it.keyStr, p);
        } else {
          this.map.delete(it.keyStr);
          if (this.trackDirty) this.dirty.set(it.keyStr, null);
        }
      } else {
        this.map.delete(it.keyStr);
        if (this.trackDirty) this.dirty.set(it.keyStr, null);
      }
    }
    // Recount stale entries (the walk above may have revived some).
    let stale = 0;
    for (const it of this.log) if (it.stale) stale++;
    this.staleCount = stale;
    this.#staleKept = Math.min(this.#staleKept, stale);
    this.highSeqno = target;
    if (this.persistedSeqno > target) this.persistedSeqno = target;
    this.checkpointStarts = this.checkpointStarts.filter((s) => s <= target);
    this.checkpointId++;
    this.checkpointStarts.push(target + 1);
    this.#openItems = 0;
    this.metaDirty = true;
    for (const l of this.listeners) l();
    return target;
  }
}
