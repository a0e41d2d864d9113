// The collection filter of one DCP stream, as kv_engine's Collections::VB::Filter
// (engines/ep/src/collections/vbucket_filter.cc) builds and updates it:
// - legacy: a connection without HELLO Collections sees only the default collection, no system
//   events (the stream request fails with UNKNOWN_COLLECTION when _default was dropped);
// - passthrough: a collections connection without `collections`/`scope` sees everything;
// - collections: only the listed ids (each must exist, else UNKNOWN_COLLECTION); their create and
//   drop events; no scope events; a drop removes the id, and an empty set ends the stream with
//   STREAM_END "filter empty" (7);
// - scope: the scope's collections, including ones created in it later (their create events add
//   them); the scope's own events; the scope's drop ends the stream (filter empty).
// Items of dropped or flushed collections (logically deleted) are never sent.
import { St } from '../internal/mcbp.js';
import type { StreamRequestValue } from '../internal/stream-request-value.js';
import { type Item, ItemKind } from '../vbucket.js';
import { cidOf } from './doc-key.js';
import type { Manifest } from './manifest.js';
import { eventView } from './system-event-item.js';

export type FilterKind = 'legacy' | 'passthrough' | 'collections' | 'scope';

export type FilterResult =
  | { ok: true; filter: StreamFilter }
  | { ok: false; status: number; context: string; manifestUid: number };

const HEX = /^[0-9a-f]{1,8}$/i;

export class StreamFilter {
  #scopeDropped = false;

  constructor(
    readonly kind: FilterKind,
    readonly cids: Set<number>,
    readonly scopeId: number,
  ) {}

  static build(
    collectionsConnection: boolean,
    json: StreamRequestValue | undefined,
    m: Manifest,
  ): FilterResult {
    const fail = (status: number, context: string): FilterResult => ({
      ok: false,
      status,
      context,
      manifestUid: m.uid,
    });
    if (!collectionsConnection) {
      if (json?.collections !== undefined || json?.scope !== undefined)
        return fail(St.Einval, 'collection filters need HELLO Collections');
      if (!m.byId.has(0)) return fail(St.UnknownCollection, 'the default collection was dropped');
      return { ok: true, filter: new StreamFilter('legacy', new Set([0]), -1) };
    }
    if (json?.collections !== undefined) {
      const cids = new Set<number>();
      for (const c of json.collections) {
        if (typeof c !== 'string' || !HEX.test(c))
          return fail(St.Einval, 'collection ids must be base-16 strings');
        const cid = Number.parseInt(c, 16);
        if (!m.byId.has(cid)) return fail(St.UnknownCollection, `unknown collection ${c}`);
        cids.add(cid);
      }
      if (cids.size === 0) return fail(St.Einval, 'an empty collections filter');
      return { ok: true, filter: new StreamFilter('collections', cids, -1) };
    }
    if (json?.scope !== undefined) {
      if (!HEX.test(json.scope)) return fail(St.Einval, 'scope must be a base-16 string');
      const sid = Number.parseInt(json.scope, 16);
      const s = m.scopesById.get(sid);
      if (!s) return fail(0x8c, `unknown scope ${json.scope}`);
      return {
        ok: true,
        filter: new StreamFilter('scope', new Set([...s.collections.values()].map((c) => c.id)), sid),
      };
    }
    return { ok: true, filter: new StreamFilter('passthrough', new Set(), -1) };
  }

  /** Whether `it` goes to this stream (`visible`: not logically deleted); drop events update the filter. */
  allows(it: Item, visible: boolean): boolean {
    if (it.kind === ItemKind.SystemEvent) return this.#event(it);
    if (!visible) return false;
    if (this.kind === 'passthrough') return true;
    return this.cids.has(cidOf(it.keyStr));
  }

  #event(it: Item): boolean {
    if (this.kind === 'legacy') {
      // A legacy stream loses its only collection when _default is dropped.
      if (it.flags === 1 && eventView(it).collectionId === 0) this.cids.delete(0);
      return false;
    }
    if (this.kind === 'passthrough') return true;
    const e = eventView(it);
    switch (it.flags) {
      case 0: // collection begins (created or flushed)
        if (this.kind === 'scope' && e.scopeId === this.scopeId) this.cids.add(e.collectionId);
        return this.cids.has(e.collectionId);
      case 1: // collection ends
        if (this.cids.delete(e.collectionId)) return true;
        return this.kind === 'scope' && e.scopeId === this.scopeId;
      case 3:
      case 4:
        if (this.kind !== 'scope' || e.scopeId !== this.scopeId) return false;
        if (it.flags === 4) this.#scopeDropped = true;
        return true;
      default:
        return false;
    }
  }

  /** Nothing can reach this stream any more: it ends with "filter empty". */
  get empty(): boolean {
    if (this.kind === 'scope') return this.#scopeDropped;
    if (this.kind === 'collections' || this.kind === 'legacy') return this.cids.size === 0;
    return false;
  }
}
