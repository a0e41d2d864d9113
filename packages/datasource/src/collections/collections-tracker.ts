// What a collection-aware datasource knows of the bucket's collections: names by id (from the
// manifest, GET_COLLECTIONS_MANIFEST, and from the system events of its streams), the stream
// filter to request, and which documents reach the receiver.
//
// How `options.collections` becomes a stream filter (kv_engine stream-request-value.md):
// - every collection: no filter;
// - ids: `{"collections":[ids]}`; those ids only (ids are never reused, so nothing to follow);
// - a scope: `{"scope":"<id>"}`, which also brings collections created in it later;
// - names: a scope filter when they share one scope, else no filter; either way the datasource
//   keeps only the named collections. A `{"collections":[…]}` filter would not do for names: a
//   collection created (or re-created) later would only be learned of out of band, and a stream
//   reopened for it from the vbucket's position would miss its first mutations if the vbucket had
//   moved past its creation. With a scope or no filter the create event arrives in order, right
//   before the collection's documents.
// A scope (or the names' scope) that does not exist yet, or was dropped (STREAM_END "filter
// empty"), leaves the vbuckets waiting until a manifest has it again; the stream then resumes from
// the vbucket's position with the new scope id.
import type { SystemEventData } from '@tributary/codec';
import { encodeStreamRequestFilter } from '@tributary/codec';
import type { CollectionEvent } from '../receiver.js';
import type { CollectionsSpec } from './collections-option.js';

interface CollectionInfo {
  name: string;
  scopeId: number;
}

/** The stream filter to request: a value, none (every collection), or `null` (not yet: wait). */
export type ServerFilter = { value: Buffer | undefined } | null;

export class CollectionsTracker {
  uid = -1;
  readonly scopes = new Map<number, string>();
  readonly collections = new Map<number, CollectionInfo>();
  /** Collection ids the receiver gets; undefined = all the server sends. */
  readonly #wanted: Set<number> | undefined;
  /** Per vbucket: collections whose begin event this process saw (a second one is a flush). */
  readonly #begun = new Map<number, Set<number>>();

  constructor(readonly spec: CollectionsSpec) {
    this.#wanted = spec.mode === 'names' ? new Set() : undefined;
  }

  /** Applies a manifest JSON (GET_COLLECTIONS_MANIFEST); an older one than known is ignored. */
  applyManifest(json: unknown): boolean {
    if (typeof json !== 'object' || json === null) return false;
    const m = json as { uid?: unknown; scopes?: unknown };
    if (typeof m.uid !== 'string' || !Array.isArray(m.scopes)) return false;
    const uid = Number.parseInt(m.uid, 16);
    if (!Number.isSafeInteger(uid) || uid < this.uid) return false;
    this.uid = uid;
    this.scopes.clear();
    this.collections.clear();
    for (const s of m.scopes as { name?: unknown; uid?: unknown; collections?: unknown }[]) {
      if (typeof s?.name !== 'string' || typeof s.uid !== 'string') continue;
      const sid = Number.parseInt(s.uid, 16);
      this.scopes.set(sid, s.name);
      if (!Array.isArray(s.collections)) continue;
      for (const c of s.collections as { name?: unknown; uid?: unknown }[]) {
        if (typeof c?.name !== 'string' || typeof c.uid !== 'string') continue;
        this.collections.set(Number.parseInt(c.uid, 16), { name: c.name, scopeId: sid });
      }
    }
    if (this.#wanted) {
      this.#wanted.clear();
      for (const [cid, c] of this.collections) if (this.#named(c.scopeId, c.name)) this.#wanted.add(cid);
    }
    return true;
  }

  #named(scopeId: number, name: string): boolean {
    if (this.spec.mode !== 'names') return true;
    const scope = this.scopes.get(scopeId);
    return this.spec.names.some((n) => n.scope === scope && n.collection === name);
  }

  #scopeId(name: string): number | undefined {
    for (const [id, n] of this.scopes) if (n === name) return id;
    return undefined;
  }

  /** The scope a scope filter names (scope mode, or names all in one scope). */
  get filterScope(): string | undefined {
    if (this.spec.mode === 'scope') return this.spec.scope;
    if (this.spec.mode === 'names') {
      const s = this.spec.names[0]!.scope;
      return this.spec.names.every((n) => n.scope === s) ? s : undefined;
    }
    return undefined;
  }

  /** The stream-request filter for a stream resuming with manifest uid `uid` (if known). */
  serverFilter(uid?: number): ServerFilter {
    const u = uid !== undefined && uid > 0 ? { uid } : {};
    switch (this.spec.mode) {
      case 'all':
        return { value: encodeStreamRequestFilter(u) };
      case 'ids':
        return { value: encodeStreamRequestFilter({ ...u, collections: this.spec.ids }) };
      default: {
        const scope = this.filterScope;
        if (scope === undefined) return { value: encodeStreamRequestFilter(u) };
        const sid = this.#scopeId(scope);
        if (sid === undefined) return null;
        return { value: encodeStreamRequestFilter({ ...u, scope: sid }) };
      }
    }
  }

  /** Whether a document of collection `cid` reaches the receiver. */
  passes(cid: number): boolean {
    return this.#wanted === undefined || this.#wanted.has(cid);
  }

  scopeName(cid: number): string | undefined {
    const c = this.collections.get(cid);
    return c === undefined ? undefined : this.scopes.get(c.scopeId);
  }

  collectionName(cid: number): string | undefined {
    return this.collections.get(cid)?.name;
  }

  /**
   * A system event of vbucket `vb`'s stream: the names are learned, the filter follows, and the
   * receiver's view of it is returned (undefined when the receiver does not get it).
   */
  onEvent(vb: number, d: SystemEventData): CollectionEvent | undefined {
    if (d.manifestUid > this.uid) this.uid = d.manifestUid;
    switch (d.type) {
      case 'scope-created':
        this.scopes.set(d.scopeId, d.name);
        return this.#scopeNamed(d.name)
          ? { type: d.type, manifestUid: d.manifestUid, scopeId: d.scopeId, scope: d.name }
          : undefined;
      case 'scope-dropped': {
        const name = this.scopes.get(d.scopeId);
        return name === undefined || this.#scopeNamed(name)
          ? { type: d.type, manifestUid: d.manifestUid, scopeId: d.scopeId, scope: name }
          : undefined;
      }
      case 'collection-created': {
        this.collections.set(d.collectionId, { name: d.name, scopeId: d.scopeId });
        let begun = this.#begun.get(vb);
        if (!begun) this.#begun.set(vb, (begun = new Set()));
        const flushed = begun.has(d.collectionId);
        begun.add(d.collectionId);
        if (this.#wanted) {
          if (!this.#named(d.scopeId, d.name)) return undefined;
          this.#wanted.add(d.collectionId);
        }
        return {
          type: d.type,
          manifestUid: d.manifestUid,
          scopeId: d.scopeId,
          collectionId: d.collectionId,
          scope: this.scopes.get(d.scopeId),
          collection: d.name,
          ...(d.maxTtl !== undefined ? { maxTtl: d.maxTtl } : {}),
          flushed,
        };
      }
      case 'collection-dropped': {
        this.#begun.get(vb)?.delete(d.collectionId);
        const info = this.collections.get(d.collectionId);
        // Also the drop of a collection unknown here in a scope of the filter: after a restart,
        // the manifest no longer names what was dropped meanwhile, and it may have been one of
        // the named ones (ids are unique, so the receiver can tell).
        const scope = this.scopes.get(d.scopeId);
        if (
          this.#wanted &&
          !this.#wanted.has(d.collectionId) &&
          (info !== undefined || scope === undefined || !this.#scopeNamed(scope))
        )
          return undefined;
        // Other vbuckets still stream the collection until their own drop event: the id stays
        // known (ids are never reused) and wanted.
        return {
          type: d.type,
          manifestUid: d.manifestUid,
          scopeId: d.scopeId,
          collectionId: d.collectionId,
          scope: this.scopes.get(d.scopeId),
          collection: info?.name,
        };
      }
    }
  }

  #scopeNamed(name: string): boolean {
    if (this.spec.mode === 'all') return true;
    if (this.spec.mode === 'scope') return this.spec.scope === name;
    if (this.spec.mode === 'names') return this.spec.names.some((n) => n.scope === name);
    return false;
  }
}
