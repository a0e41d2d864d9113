// A bucket's scopes and collections: the manifest, the events each change writes into every
// vbucket, which documents are logically deleted (their collection dropped, or flushed after
// they were written), and the background purge that removes them from memory and the store.
//
// Per vbucket, a collection "begins" at the seqno of its begin event (create or flush); a
// document of a collection that is not in the manifest, or older than its collection's begin,
// is gone for KV (UNKNOWN_COLLECTION / not found) and DCP alike from the moment of the change,
// as in kv_engine, and the purge then walks one vbucket per event-loop turn (bounded pauses)
// deleting those items from the vbucket's map, its history, the replica copies and the store.

import type { SystemEventData } from '@tributary/codec';
import type { Logger, Store } from '@tributary/core';
import type { Item, VBucket } from '../vbucket.js';
import { cidOf, SYSTEM_COLLECTION } from './doc-key.js';
import { type CollectionEntry, Manifest, type ManifestState, type ScopeEntry } from './manifest.js';
import { eventItem, eventView, isEventKey } from './system-event-item.js';

export interface CollectionsHost {
  readonly name: string;
  readonly vbuckets: readonly VBucket[];
  nextCas(): bigint;
  markDirty(vb: number): void;
}

export interface CollectionsChange {
  uid: number;
}

export class BucketCollections {
  manifest = new Manifest();
  /** cid → per-vbucket seqno of its current begin event (0: from the start). */
  readonly #begin = new Map<number, number[]>();
  /** Called after every manifest change (the cluster bumps its config rev, notifies clients). */
  onChange: (uid: number) => void = () => {};
  /** Called for each purged vbucket (replica copies drop the same items). */
  onPurge: (vb: number, gone: (it: Item) => boolean) => void = () => {};
  #gen = 0;
  #purging = false;
  #purgeWaiters: (() => void)[] = [];
  #closed = false;
  readonly #hidden: ((it: Item) => boolean)[];

  constructor(
    readonly host: CollectionsHost,
    readonly store: Store | undefined,
    readonly log: Logger,
    readonly onError: (err: unknown) => void,
  ) {
    this.#begin.set(0, new Array(host.vbuckets.length).fill(0));
    this.#hidden = host.vbuckets.map((vb) => (it: Item) => this.#gone(vb.id, it));
  }

  /** Whether DCP streams must filter (anything but the default collection ever existed). */
  get active(): boolean {
    return this.manifest.uid > 0;
  }

  get uid(): number {
    return this.manifest.uid;
  }

  #gone(vb: number, it: Item): boolean {
    const cid = cidOf(it.keyStr);
    if (cid === SYSTEM_COLLECTION) return false;
    const b = this.#begin.get(cid);
    return b === undefined || it.seqno < b[vb]!;
  }

  /** Whether an item of vbucket `vb` still exists (its collection lives and began before it). */
  visible(vb: number, it: Item): boolean {
    return !this.#gone(vb, it);
  }

  /** The expiry a write gets in its collection (a collection max TTL caps it, as kv_engine does). */
  capExpiry(keyStr: string, expiry: number, nowSec = Math.floor(Date.now() / 1000)): number {
    if (this.manifest.uid === 0) return expiry;
    const c = this.manifest.byId.get(cidOf(keyStr));
    if (!c?.maxTtl) return expiry;
    const cap = nowSec + c.maxTtl;
    return expiry === 0 || expiry > cap ? cap : expiry;
  }

  // ---- changes ------------------------------------------------------------------------------

  createScope(name: string): ScopeEntry {
    const s = this.manifest.createScope(name);
    this.#emit([{ type: 'scope-created', manifestUid: this.uid, scopeId: s.id, name }]);
    return s;
  }

  createCollection(scope: string, name: string, maxTtl = 0): CollectionEntry {
    const c = this.manifest.createCollection(scope, name, maxTtl);
    this.#begin.set(c.id, new Array(this.host.vbuckets.length).fill(0));
    this.#emit([
      {
        type: 'collection-created',
        manifestUid: this.uid,
        scopeId: c.scopeId,
        collectionId: c.id,
        name,
        ...(maxTtl ? { maxTtl } : {}),
      },
    ]);
    return c;
  }

  dropCollection(scope: string, name: string): CollectionEntry {
    const c = this.manifest.dropCollection(scope, name);
    this.#begin.delete(c.id);
    this.#emit([
      { type: 'collection-dropped', manifestUid: this.uid, scopeId: c.scopeId, collectionId: c.id },
    ]);
    this.#startPurge();
    return c;
  }

  /** Drops a scope: each of its collections' drop event, then the scope's (kv_engine's order). */
  dropScope(name: string): ScopeEntry {
    const { scope, collections } = this.manifest.dropScope(name);
    const prev = this.uid - 1;
    const events: SystemEventData[] = collections.map((c) => {
      this.#begin.delete(c.id);
      return { type: 'collection-dropped', manifestUid: prev, scopeId: scope.id, collectionId: c.id };
    });
    // Only the last event of a change carries the new uid (system_event.md, "Manifest ID").
    events.push({ type: 'scope-dropped', manifestUid: this.uid, scopeId: scope.id });
    this.#emit(events);
    if (collections.length) this.#startPurge();
    return scope;
  }

  /**
   * Flushes a collection: a new begin event at a new seqno in every vbucket; everything written
   * before it is gone (system_event.md, "Flush Collection"). The manifest uid rises.
   */
  flushCollection(scope: string, name: string): CollectionEntry {
    const c = this.manifest.lookup(`${scope}.${name}`).collection;
    if (!c) this.manifest.dropCollection(scope, name); // throws the 404 for an unknown one
    const col = c!;
    this.manifest.uid++;
    const begins = this.#begin.get(col.id)!;
    this.#emit(
      [
        {
          type: 'collection-created',
          manifestUid: this.uid,
          scopeId: col.scopeId,
          collectionId: col.id,
          name: col.name,
          ...(col.maxTtl ? { maxTtl: col.maxTtl } : {}),
        },
      ],
      (vb, seqno) => {
        begins[vb] = seqno;
      },
    );
    this.#startPurge();
    return col;
  }

  /** Appends the events to every vbucket, persists the manifest, tells the cluster. */
  #emit(events: SystemEventData[], onSeqno?: (vb: number, seqno: number) => void): void {
    for (const vb of this.host.vbuckets) {
      for (const d of events) {
        const key = eventItem(d, 0n, 0).keyStr;
        const prev = vb.map.get(key);
        const it = vb.append(eventItem(d, this.host.nextCas(), (prev?.revSeqno ?? 0) + 1));
        if (d.type === 'collection-created') {
          const b = this.#begin.get(d.collectionId);
          if (b && !onSeqno) b[vb.id] = it.seqno;
        }
        onSeqno?.(vb.id, it.seqno);
      }
      this.host.markDirty(vb.id);
    }
    this.#save();
    this.onChange(this.uid);
  }

  // ---- purge ----------------------------------------------------------------------------------

  #startPurge(): void {
    this.#gen++;
    for (const vb of this.host.vbuckets) vb.hidden = this.#hidden[vb.id];
    if (this.#purging) return;
    this.#purging = true;
    this.#pass(this.#gen, 0);
  }

  /** One vbucket per turn; when a whole pass ran without a new drop or flush, reads stop checking. */
  #pass(gen: number, i: number): void {
    setImmediate(() => {
      if (this.#closed) return;
      try {
        if (i < this.host.vbuckets.length) {
          this.#purgeVbucket(this.host.vbuckets[i]!);
          this.#pass(gen, i + 1);
          return;
        }
        if (gen !== this.#gen) {
          this.#pass(this.#gen, 0);
          return;
        }
        for (const vb of this.host.vbuckets) vb.hidden = undefined;
        this.#purging = false;
        for (const w of this.#purgeWaiters.splice(0)) w();
      } catch (err) {
        this.#purging = false;
        for (const w of this.#purgeWaiters.splice(0)) w();
        this.onError(err);
      }
    });
  }

  #purgeVbucket(vb: VBucket): void {
    const gone = this.#hidden[vb.id]!;
    let removed = 0;
    for (const [k, it] of vb.map) {
      if (!gone(it)) continue;
      vb.map.delete(k);
      if (vb.trackDirty) vb.dirty.set(k, null);
      removed++;
    }
    let inLog = false;
    for (const it of vb.log)
      if (gone(it)) {
        inLog = true;
        break;
      }
    if (inLog) {
      const kept: Item[] = [];
      let stale = 0;
      for (const it of vb.log) {
        if (gone(it)) continue;
        if (it.prev && gone(it.prev)) it.prev = undefined;
        if (it.stale) stale++;
        kept.push(it);
      }
      vb.log = kept;
      vb.staleCount = stale;
    }
    if (removed || inLog) {
      vb.metaDirty = true;
      this.host.markDirty(vb.id);
      this.onPurge(vb.id, gone);
    }
  }

  /** Whether documents of dropped or flushed collections are still being purged. */
  get purging(): boolean {
    return this.#purging;
  }

  /** Resolves once no purge runs (at once when none does). */
  whenPurged(): Promise<void> {
    if (!this.#purging) return Promise.resolve();
    return new Promise((resolve) => this.#purgeWaiters.push(resolve));
  }

  // ---- persistence ----------------------------------------------------------------------------

  #key(): Buffer {
    return Buffer.concat([Buffer.from('c\0'), Buffer.from(this.host.name), Buffer.from('\0M')]);
  }

  #save(): void {
    if (!this.store) return;
    const value = Buffer.from(JSON.stringify(this.manifest.state()));
    this.store.batch([{ type: 'put', key: this.#key(), value }]).catch((err) => this.onError(err));
  }

  /** Loads the manifest (before the vbuckets load). */
  async load(): Promise<void> {
    if (!this.store) return;
    const raw = await this.store.get(this.#key());
    if (!raw) return;
    this.manifest = Manifest.fromState(JSON.parse(Buffer.from(raw).toString('utf8')) as ManifestState);
    this.#begin.clear();
    for (const id of this.manifest.byId.keys())
      this.#begin.set(id, new Array(this.host.vbuckets.length).fill(0));
  }

  /**
   * After vbuckets were (re)loaded: each live collection begins at its begin event the vbucket
   * holds (0 without one), and documents left of dropped or flushed collections are purged.
   */
  rebuild(ids: readonly number[]): void {
    let hidden = false;
    for (const id of ids) {
      const vb = this.host.vbuckets[id]!;
      for (const b of this.#begin.values()) b[id] = 0;
      for (const it of vb.map.values()) {
        if (!isEventKey(it.keyStr) || it.flags !== 0) continue;
        const b = this.#begin.get(eventView(it).collectionId);
        if (b) b[id] = it.seqno;
      }
      if (!hidden && this.active) for (const it of vb.map.values()) if (this.#gone(id, it)) hidden = true;
    }
    if (hidden) this.#startPurge();
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#purgeWaiters.splice(0)) w();
  }
}
