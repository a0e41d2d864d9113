import { randomBytes } from 'node:crypto';
import type { BatchOp, Logger, Store } from '@tributary/core';
import { flushOps, loadVbucket, vbPrefix } from './internal/persistence.js';
import { Item, ItemKind, VBucket, type VBucketOptions } from './vbucket.js';

/** KV outcome codes (memcached status values). */
export const KvStatus = { Success: 0x00, KeyEnoent: 0x01, KeyEexists: 0x02, NotStored: 0x05 } as const;

export interface KvResult {
  status: number;
  item?: Item;
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
    const every = o.expiryPagerIntervalMs ?? 1000;
    this.#pager = setInterval(() => this.runExpiryPager(), every);
    this.#pager.unref();
  }

  /** Loads every vbucket from the store; vbuckets never stored get their first failover entry. */
  async open(): Promise<void> {
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
        for (const id of this.#dirtyVbs) {
          this.#dirtyVbs.delete(id);
          flushOps(this.name, this.vbuckets[id], this.#prefixes[id], ops);
          if (ops.length >= 20_000) break;
        }
        if (ops.length) await this.#o.store.batch(ops);
      }
    };
    this.#flushing = run().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
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
    const tomb = new Item(
      it.keyStr,
      Buffer.alloc(0),
      0,
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
    const nowSec = Math.floor(Date.now() / 1000);
    let prev = vb.get(keyStr);
    let cur = prev && !prev.deleted ? prev : undefined;
    if (cur?.expiry && cur.expiry <= nowSec) {
      this.#expire(vb, cur, nowSec);
      cur = undefined;
      prev = vb.get(keyStr);
    }
    if (mode === 'add' && cur) return { status: KvStatus.KeyEexists };
    if (mode === 'replace' && !cur) return { status: KvStatus.KeyEnoent };
    if (cas !== 0n) {
      if (!cur) return { status: KvStatus.KeyEnoent };
      if (cur.cas !== cas) return { status: KvStatus.KeyEexists };
    }
    const exp = absoluteExpiry(expiry, nowSec);
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

  remove(vb: VBucket, keyStr: string, cas: bigint): KvResult {
    const nowSec = Math.floor(Date.now() / 1000);
    const cur = this.getLive(vb, keyStr, nowSec);
    if (!cur) return { status: KvStatus.KeyEnoent };
    if (cas !== 0n && cur.cas !== cas) return { status: KvStatus.KeyEexists };
    const it = new Item(
      keyStr,
      Buffer.alloc(0),
      0,
      cur.flags,
      0,
      this.nextCas(),
      cur.revSeqno + 1,
      ItemKind.Deletion,
      nowSec,
    );
    vb.append(it);
    this.markDirty(vb.id);
    return { status: KvStatus.Success, item: it };
  }

  /** TOUCH: a new version with a new expiry (a mutation, as in kv_engine). */
  touch(vb: VBucket, keyStr: string, expiry: number): KvResult {
    const nowSec = Math.floor(Date.now() / 1000);
    const cur = this.getLive(vb, keyStr, nowSec);
    if (!cur) return { status: KvStatus.KeyEnoent };
    const exp = absoluteExpiry(expiry, nowSec);
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
    if (this.#pager) clearInterval(this.#pager);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }
}
