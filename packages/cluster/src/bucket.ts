import { randomBytes } from 'node:crypto';
import type { BatchOp, Logger, Store } from '@tributary/core';
import { BucketCollections } from './collections/bucket-collections.js';
import { LockTable } from './internal/locks.js';
import { flushOps, loadVbucket, prepareKey, vbPrefix } from './internal/persistence.js';
import { encodeXattrs, isSystemKey, parseXattrs } from './internal/subdoc/xattrs.js';
import { Item, ItemKind, VBucket, type VBucketOptions } from './vbucket.js';

/** KV outcome codes (memcached status values). */
export const KvStatus = {
  Success: 0x00,
  KeyEnoent: 0x01,
  KeyEexists: 0x02,
  NotStored: 0x05,
  Locked: 0x09,
  SyncWriteInProgress: 0xa2,
} as const;

const DT_XATTR = 0x04;

/** A new version of a document, built by a command that read the current one. */
export interface NewVersion {
  value: Buffer;
  datatype: number;
  flags: number;
  /** Absolute Unix seconds, 0 = never. */
  expiry: number;
  /** Store a tombstone that keeps `value` (system xattrs only). */
  deleted?: boolean;
  /** Final bytes once the CAS and seqno are known (macro expansion); same length as `value`. */
  prelink?: (cas: bigint, seqno: number) => Buffer;
}

/**
 * What a deletion keeps: the system xattrs (those starting with '_') live on in the tombstone,
 * as kv_engine keeps them (docs/ExtendedAttributes.md "XATTR lifetime"). Empty without any.
 */
export function tombstoneValue(value: Buffer, datatype: number): Buffer {
  if (!(datatype & DT_XATTR)) return Buffer.alloc(0);
  const pairs = parseXattrs(value);
  return pairs ? encodeXattrs(pairs.filter((p) => isSystemKey(p.key))) : Buffer.alloc(0);
}

export interface KvResult {
  status: number;
  item?: Item;
}

/** A write that passed its checks: the version to commit over `prev`. */
export interface Prepared {
  status: number;
  prev?: Item;
  version?: NewVersion;
}

export type StoreMode = 'set' | 'add' | 'replace';

const THIRTY_DAYS = 30 * 24 * 3600;

/** Memcached expiry → absolute Unix seconds (0 = never; ≤ 30 days relative, else absolute). */
export function absoluteExpiry(expiry: number, nowSec = Math.floor(Date.now() / 1000)): number {
  if (!expiry) return 0;
  return expiry <= THIRTY_DAYS ? nowSec + expiry : expiry;
}

const JSON_START = new Uint8Array(256);
for (const c of '{["-0123456789tfn') JSON_START[c.charCodeAt(0)] = 1;

/** Whether `value` is a JSON document (what kv_engine checks before setting datatype JSON). */
export function isJsonValue(value: Uint8Array): boolean {
  let i = 0;
  while (
    i < value.length &&
    (value[i] === 0x20 || value[i] === 0x0a || value[i] === 0x0d || value[i] === 0x09)
  )
    i++;
  if (i >= value.length || !JSON_START[value[i]]) return false;
  try {
    JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** A min-heap of (expiry, item) so the pager finds due items without scanning every document. */
class ExpiryHeap {
  #t: number[] = [];
  #i: Item[] = [];
  #v: number[] = [];
  get size(): number {
    return this.#t.length;
  }
  push(t: number, vb: number, it: Item): void {
    const a = this.#t;
    const b = this.#i;
    const v = this.#v;
    let n = a.length;
    a.push(t);
    b.push(it);
    v.push(vb);
    while (n > 0) {
      const p = (n - 1) >> 1;
      if (a[p] <= t) break;
      a[n] = a[p];
      b[n] = b[p];
      v[n] = v[p];
      n = p;
    }
    a[n] = t;
    b[n] = it;
    v[n] = vb;
  }
  /** vbucket of the top entry. */
  peekVb(): number {
    return this.#v[0];
  }
  peek(): number {
    return this.#t.length ? this.#t[0] : Number.POSITIVE_INFINITY;
  }
  pop(): Item | undefined {
    const a = this.#t;
    const b = this.#i;
    if (!a.length) return undefined;
    const v = this.#v;
    const top = b[0];
    const lt = a.pop()!;
    const li = b.pop()!;
    const lv = v.pop()!;
    if (a.length) {
      let n = 0;
      const len = a.length;
      for (;;) {
        const l = 2 * n + 1;
        if (l >= len) break;
        const r = l + 1;
        const c = r < len && a[r] < a[l] ? r : l;
        if (a[c] >= lt) break;
        a[n] = a[c];
        b[n] = b[c];
        v[n] = v[c];
        n = c;
      }
      a[n] = lt;
      b[n] = li;
      v[n] = lv;
    }
    return top;
  }
}

export interface BucketOptions extends VBucketOptions {
  name: string;
  numVbuckets: number;
  uuid?: string;
  store: Store;
  logger: Logger;
  onError: (err: unknown) => void;
  /** How often expired documents are turned into expirations (ms). */
  expiryPagerIntervalMs?: number;
  /** Delay before dirty items are written to the store (ms). */
  flushDelayMs?: number;
  ramQuotaMb?: number;
  replicaNumber?: number;
  /** 'ephemeral' buckets keep everything in memory only (nothing reaches the store). */
  type?: 'couchbase' | 'ephemeral';
  /** Whether the expiry pager may expire items of a vbucket now (its active node runs). */
  canExpire?: (vb: number) => boolean;
}

/**
 * A bucket's data, cluster-wide: one VBucket per vbucket id (which node serves it is the
 * topology's business). Writes go to memory first and are flushed to the store in batches,
 * like ep-engine's flusher.
 */
export class Bucket {
  readonly name: string;
  readonly uuid: string;
  readonly vbuckets: VBucket[];
  readonly ramQuotaMb: number;
  readonly replicaNumber: number;
  readonly type: 'couchbase' | 'ephemeral';
  /** Locks and lock CASes (GET_LOCKED). */
  readonly locks = new LockTable();
  /** Keys with a sync write in flight, per vbucket: other writers get SYNC_WRITE_IN_PROGRESS. */
  readonly syncWrites = new Map<number, Set<string>>();
  /** Scopes, collections and the purge of dropped ones (collections/bucket-collections.ts). */
  readonly collections: BucketCollections;
  #lastCas = 0n;
  readonly #heap = new ExpiryHeap();
  readonly #prefixes: Buffer[];
  readonly #dirtyVbs = new Set<number>();
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #pager: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #o: BucketOptions;

  constructor(o: BucketOptions) {
    this.#o = o;
    this.name = o.name;
    this.uuid = o.uuid ?? randomBytes(16).toString('hex');
    this.ramQuotaMb = o.ramQuotaMb ?? 256;
    this.replicaNumber = o.replicaNumber ?? 1;
    this.type = o.type ?? 'couchbase';
    this.vbuckets = Array.from({ length: o.numVbuckets }, (_, i) => new VBucket(i, o));
    if (this.type === 'ephemeral') for (const vb of this.vbuckets) vb.trackDirty = false;
    this.#prefixes = this.vbuckets.map((v) => vbPrefix(o.name, v.id));
    this.collections = new BucketCollections(
      this,
      this.type === 'ephemeral' ? undefined : o.store,
      o.logger,
      o.onError,
    );
    const every = o.expiryPagerIntervalMs ?? 1000;
    this.#pager = setInterval(() => this.runExpiryPager(), every);
    this.#pager.unref();
  }

  /** Loads every vbucket from the store; vbuckets never stored get their first failover entry. */
  async open(): Promise<void> {
    await this.collections.load();
    for (const vb of this.vbuckets) {
      if (this.type === 'ephemeral') {
        vb.addFailoverEntry();
        continue;
      }
      const found = await loadVbucket(this.#o.store, this.#prefixes[vb.id], vb);
      if (found) {
        this.#indexExpiries(vb);
        // The previous process may have died after this point: a restart is unclean.
        vb.addFailoverEntry();
      } else vb.addFailoverEntry();
      this.markDirty(vb.id);
    }
    this.collections.rebuild(this.vbuckets.map((v) => v.id));
  }

  /** Reloads the given vbuckets from the store (a node restart) and opens a new failover entry. */
  async reload(ids: readonly number[]): Promise<void> {
    await this.flush();
    for (const id of ids) {
      const vb = this.vbuckets[id];
      const found =
        this.type === 'ephemeral' ? false : await loadVbucket(this.#o.store, this.#prefixes[id], vb);
      if (!found) {
        vb.map.clear();
        vb.rebuildLog(0);
      }
      this.#indexExpiries(vb);
      vb.addFailoverEntry();
      this.markDirty(id);
      for (const l of vb.listeners) l();
    }
    this.collections.rebuild(ids);
  }

  #indexExpiries(vb: VBucket): void {
    for (const it of vb.map.values()) if (it.expiry && !it.deleted) this.#heap.push(it.expiry, vb.id, it);
  }

  nextCas(): bigint {
    const now = BigInt(Date.now()) * 1_000_000n;
    this.#lastCas = now > this.#lastCas ? now : this.#lastCas + 1n;
    return this.#lastCas;
  }

  markDirty(vb: number): void {
    if (this.type === 'ephemeral') return;
    this.#dirtyVbs.add(vb);
    if (this.#flushTimer || this.#closed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.flush().catch((err) => this.#o.onError(err));
    }, this.#o.flushDelayMs ?? 10);
    this.#flushTimer.unref();
  }

  /** Writes everything dirty to the store; resolves when it is durable there. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (!this.#dirtyVbs.size) return;
    const run = async () => {
      while (this.#dirtyVbs.size) {
        const ops: BatchOp[] = [];
        // Each vbucket's dirty set covers every mutation up to its high seqno at this point.
        const flushed: [VBucket, number][] = [];
        for (const id of this.#dirtyVbs) {
          this.#dirtyVbs.delete(id);
          const vb = this.vbuckets[id];
          flushed.push([vb, vb.highSeqno]);
          flushOps(this.name, vb, this.#prefixes[id], ops);
          if (ops.length >= 20_000) break;
        }
        if (ops.length) await this.#o.store.batch(ops);
        for (const [vb, seqno] of flushed) vb.persisted(seqno);
      }
    };
    this.#flushing = run().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
  }

  /** Writes a durable write's prepare to the store (persistence levels wait for it). */
  async persistPrepare(vb: number, keyStr: string, value: Buffer): Promise<void> {
    await this.#o.store.batch([{ type: 'put', key: prepareKey(this.#prefixes[vb], keyStr), value }]);
  }

  /** Drops a prepare record (committed or aborted). */
  forgetPrepare(vb: number, keyStr: string): void {
    this.#o.store
      .batch([{ type: 'del', key: prepareKey(this.#prefixes[vb], keyStr) }])
      .catch((err) => this.#o.onError(err));
  }

  vbucketFor(vb: number): VBucket {
    return this.vbuckets[vb];
  }

  /** Current live document (expired ones are expired on access, as kv_engine does). */
  getLive(vb: VBucket, keyStr: string, nowSec = Math.floor(Date.now() / 1000)): Item | undefined {
    const it = vb.get(keyStr);
    if (!it || it.deleted) return undefined;
    if (it.expiry && it.expiry <= nowSec) {
      this.#expire(vb, it, nowSec);
      return undefined;
    }
    return it;
  }

  #expire(vb: VBucket, it: Item, nowSec: number): void {
    const keep = tombstoneValue(it.value, it.datatype);
    const tomb = new Item(
      it.keyStr,
      keep,
      keep.length ? DT_XATTR : 0,
      it.flags,
      0,
      this.nextCas(),
      it.revSeqno + 1,
      ItemKind.Expiration,
      nowSec,
    );
    vb.append(tomb);
    this.markDirty(vb.id);
  }

  /** SET / ADD / REPLACE with kv_engine's CAS and existence rules. */
  store(
    vb: VBucket,
    mode: StoreMode,
    keyStr: string,
    value: Buffer,
    datatype: number,
    flags: number,
    expiry: number,
    cas: bigint,
  ): KvResult {
    // The hot path of SET: the checks of prepareStore without its intermediate objects.
    const nowSec = Math.floor(Date.now() / 1000);
    let prev = vb.get(keyStr);
    let cur = prev && !prev.deleted ? prev : undefined;
    if (cur?.expiry && cur.expiry <= nowSec) {
      this.#expire(vb, cur, nowSec);
      cur = undefined;
      prev = vb.get(keyStr);
    }
    const gate = this.admitWrite(vb, keyStr, cur, cas);
    if (gate !== KvStatus.Success) return { status: gate };
    if (mode === 'add' && cur) return { status: KvStatus.KeyEexists };
    if (mode === 'replace' && !cur) return { status: KvStatus.KeyEnoent };
    const exp = this.collections.capExpiry(keyStr, absoluteExpiry(expiry, nowSec), nowSec);
    const it = new Item(
      keyStr,
      value,
      datatype,
      flags,
      exp,
      this.nextCas(),
      (prev?.revSeqno ?? 0) + 1,
      ItemKind.Mutation,
      0,
    );
    vb.appendReplacing(it, prev);
    if (exp) this.#heap.push(exp, vb.id, it);
    this.markDirty(vb.id);
    return { status: KvStatus.Success, item: it };
  }

  /** The checks of store() and the version it would write, without writing (durable writes). */
  prepareStore(
    vb: VBucket,
    mode: StoreMode,
    keyStr: string,
    value: Buffer,
    datatype: number,
    flags: number,
    expiry: number,
    cas: bigint,
  ): Prepared {
    const nowSec = Math.floor(Date.now() / 1000);
    let prev = vb.get(keyStr);
    let cur = prev && !prev.deleted ? prev : undefined;
    if (cur?.expiry && cur.expiry <= nowSec) {
      this.#expire(vb, cur, nowSec);
      cur = undefined;
      prev = vb.get(keyStr);
    }
    const gate = this.admitWrite(vb, keyStr, cur, cas);
    if (gate !== KvStatus.Success) return { status: gate };
    if (mode === 'add' && cur) return { status: KvStatus.KeyEexists };
    if (mode === 'replace' && !cur) return { status: KvStatus.KeyEnoent };
    return {
      status: KvStatus.Success,
      prev,
      version: { value, datatype, flags, expiry: absoluteExpiry(expiry, nowSec) },
    };
  }

  remove(vb: VBucket, keyStr: string, cas: bigint): KvResult {
    const p = this.prepareRemove(vb, keyStr, cas);
    if (p.status !== KvStatus.Success) return { status: p.status };
    return { status: KvStatus.Success, item: this.commit(vb, keyStr, p.prev, p.version!) };
  }

  /** The checks of remove() and the tombstone it would write. */
  prepareRemove(vb: VBucket, keyStr: string, cas: bigint): Prepared {
    const cur = this.getLive(vb, keyStr);
    const gate = this.admitWrite(vb, keyStr, cur, cas);
    if (gate !== KvStatus.Success) return { status: gate };
    if (!cur) return { status: KvStatus.KeyEnoent };
    const keep = tombstoneValue(cur.value, cur.datatype);
    return {
      status: KvStatus.Success,
      prev: cur,
      version: {
        value: keep,
        datatype: keep.length ? DT_XATTR : 0,
        flags: cur.flags,
        expiry: 0,
        deleted: true,
      },
    };
  }

  /** TOUCH: a new version with a new expiry (a mutation, as in kv_engine). */
  touch(vb: VBucket, keyStr: string, expiry: number): KvResult {
    const nowSec = Math.floor(Date.now() / 1000);
    const cur = this.getLive(vb, keyStr, nowSec);
    if (!cur) return { status: KvStatus.KeyEnoent };
    const gate = this.admitWrite(vb, keyStr, cur, 0n);
    if (gate !== KvStatus.Success) return { status: gate };
    const exp = this.collections.capExpiry(keyStr, absoluteExpiry(expiry, nowSec), nowSec);
    const it = new Item(
      keyStr,
      cur.value,
      cur.datatype,
      cur.flags,
      exp,
      this.nextCas(),
      cur.revSeqno + 1,
      ItemKind.Mutation,
      0,
    );
    vb.append(it);
    if (exp) this.#heap.push(exp, vb.id, it);
    this.markDirty(vb.id);
    return { status: KvStatus.Success, item: it };
  }

  /** The current version, tombstones included (a due document expires on access). */
  current(vb: VBucket, keyStr: string, nowSec = Math.floor(Date.now() / 1000)): Item | undefined {
    const it = vb.get(keyStr);
    if (it && !it.deleted && it.expiry && it.expiry <= nowSec) {
      this.#expire(vb, it, nowSec);
      return vb.get(keyStr);
    }
    return it;
  }

  /** The CAS clients see for `it` (a lock gives a document a new one). */
  casOf(vb: VBucket, it: Item): bigint {
    return this.locks.casOf(vb.id, it);
  }

  /**
   * ep-engine's gate for a write to `keyStr` over `cur` (its live version, if any), in its order:
   * a sync write in flight (SYNC_WRITE_IN_PROGRESS), a lock the caller does not hold by CAS
   * (LOCKED; holding it releases it), a CAS that does not match (KEY_EEXISTS) or names a
   * document that is not there (KEY_ENOENT).
   */
  admitWrite(vb: VBucket, keyStr: string, cur: Item | undefined, cas: bigint): number {
    if (this.syncWrites.get(vb.id)?.has(keyStr)) return KvStatus.SyncWriteInProgress;
    if (cur && this.locks.isLocked(vb.id, cur)) {
      if (cas !== this.locks.casOf(vb.id, cur)) return KvStatus.Locked;
      this.locks.unlock(vb.id, cur);
      return KvStatus.Success;
    }
    if (cas !== 0n) {
      if (!cur) return KvStatus.KeyEnoent;
      if (this.casOf(vb, cur) !== cas) return KvStatus.KeyEexists;
    }
    return KvStatus.Success;
  }

  /** Appends a new version of `keyStr` replacing `prev` (the caller checked everything). */
  commit(vb: VBucket, keyStr: string, prev: Item | undefined, v: NewVersion): Item {
    const cas = this.nextCas();
    const value = v.prelink ? v.prelink(cas, vb.highSeqno + 1) : v.value;
    const it = new Item(
      keyStr,
      value,
      v.datatype,
      v.flags,
      v.deleted ? 0 : this.collections.capExpiry(keyStr, v.expiry),
      cas,
      (prev?.revSeqno ?? 0) + 1,
      v.deleted ? ItemKind.Deletion : ItemKind.Mutation,
      v.deleted ? Math.floor(Date.now() / 1000) : 0,
    );
    vb.appendReplacing(it, prev);
    if (it.expiry) this.#heap.push(it.expiry, vb.id, it);
    this.markDirty(vb.id);
    return it;
  }

  /** Turns every due document into an expiration (DCP sees it). Returns how many expired. */
  runExpiryPager(nowSec = Math.floor(Date.now() / 1000)): number {
    let n = 0;
    const later: [number, Item][] = [];
    while (this.#heap.size && this.#heap.peek() <= nowSec) {
      const vb = this.vbuckets[this.#heap.peekVb()];
      const it = this.#heap.pop()!;
      if (!vb || vb.get(it.keyStr) !== it || it.stale) continue;
      if (this.#o.canExpire && !this.#o.canExpire(vb.id)) {
        later.push([vb.id, it]);
        continue;
      }
      this.#expire(vb, it, nowSec);
      n++;
    }
    for (const [vb, it] of later) this.#heap.push(it.expiry, vb, it);
    return n;
  }

  close(): void {
    this.#closed = true;
    this.collections.close();
    if (this.#pager) clearInterval(this.#pager);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }
}
