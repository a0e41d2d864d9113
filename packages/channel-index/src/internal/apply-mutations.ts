// Step 2 of a write batch: each mutation, in order, against its document's record. Decides the
// entries (active, removed, tombstone) the batch appends per channel and vbucket, the records it
// rewrites, and how far each vbucket's stable seqno moves. Pure bookkeeping: no store I/O (the
// records it needs are read beforehand) and no writer state changed (the caller commits it).
import type { DocMeta } from '../channels-of.js';
import type { BatchRuns, EntryDoc } from './chunk-writer.js';
import { type DocRecord, EntryState, entryTail, setRecordChannels } from './records.js';

/** A mutation as the write worker queued it. */
export interface UpdateItem {
  t: 0;
  vb: number;
  seq: number;
  key: string;
  value: Buffer;
  deleted: boolean;
  cas: bigint;
  flags: number;
  expiry: number;
  revSeqno: number | undefined;
  datatype: number | undefined;
  xattrs: Record<string, string> | undefined;
  /** performance.now() when the receiver call brought it (for the end-to-end latency). */
  at?: number;
}

/** What a custom channelsOf gets besides the key and body (made only for one). */
export function docMeta(it: UpdateItem): DocMeta {
  return {
    vbucket: it.vb,
    seqno: it.seq,
    cas: it.cas,
    flags: it.flags,
    expiry: it.expiry,
    revSeqno: it.revSeqno,
    datatype: it.datatype,
    xattrs: it.xattrs,
    value: it.value,
  };
}

/** A datasource checkpoint for a vbucket, written with the batch. */
export interface MetaItem {
  t: 1;
  vb: number;
  value: Uint8Array;
}

export interface ApplyContext {
  /** Highest seqno applied per vbucket before this batch (anything at or below is a redelivery). */
  applied: ReadonlyMap<number, number>;
  allDocsChannel: string | false;
  storeBodies: boolean;
  /** Adds the valid channels of a document to `out` (the index's channelsOf, guarded). */
  channelsOf(it: UpdateItem, out: Set<string>): void;
}

export interface AppliedBatch {
  /** Per vbucket, the highest seqno this batch applied. */
  stableUp: Map<number, number>;
  /** The last checkpoint per vbucket in this batch. */
  metaUp: Map<number, Uint8Array>;
  /** Records rewritten, by record key (with the record: the writer encodes them without a lookup). */
  dirtyDocs: Map<string, DocRecord>;
  /** Record keys of records this batch created (documents the index had no record of). */
  created: string[];
  mutations: number;
  deletions: number;
  duplicates: number;
}

/** A document body as channelsOf gets it: the value parsed as JSON, or undefined if it is not JSON. */
export function parseBody(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function revOf(gen: number, cas: bigint): string {
  return `${gen}-${cas.toString(16).padStart(16, '0')}`;
}

/**
 * Applies `items` in order. `dks[i]` is item i's record key; `docs` holds every record the batch
 * touches (null: none yet) and is updated in place; entries go to `runs`.
 */
export function applyMutations(
  items: readonly (UpdateItem | MetaItem | { t: 2 })[],
  dks: readonly string[],
  docs: Map<string, DocRecord | null>,
  runs: BatchRuns,
  ctx: ApplyContext,
): AppliedBatch {
  const out: AppliedBatch = {
    stableUp: new Map(),
    metaUp: new Map(),
    dirtyDocs: new Map(),
    created: [],
    mutations: 0,
    deletions: 0,
    duplicates: 0,
  };
  const newChannels = new Set<string>();
  const all = ctx.allDocsChannel;
  for (let idx = 0; idx < items.length; idx++) {
    const it = items[idx]!;
    if (it.t === 1) {
      out.metaUp.set(it.vb, it.value);
      continue;
    }
    if (it.t !== 0) continue;
    const last = out.stableUp.get(it.vb) ?? ctx.applied.get(it.vb) ?? 0;
    if (it.seq <= last) {
      out.duplicates++;
      continue;
    }
    out.stableUp.set(it.vb, it.seq);
    const dk = dks[idx]!;
    const prev = docs.get(dk) ?? null;
    const gen = it.revSeqno ?? (prev ? prev.gen + 1 : 1);
    const rev = revOf(gen, it.cas);
    // Only the channels a document is in are kept: where it left is in the blocks, and a rollback
    // finds those channels from the channel clocks (a record must not grow with every move). A
    // known document's record is updated in place (the writer's cache holds it; what an earlier
    // batch wrote was encoded when that batch was built), after its old channels are read.
    const rec: DocRecord = prev ?? {
      seq: 0,
      gen: 0,
      rev: '',
      deleted: false,
      channels: [],
      joined: [],
      body: undefined,
    };
    const was = rec.channels;
    // (the entry's id bytes and rev are shared by every channel entry of this mutation)
    const doc: EntryDoc = {
      vb: it.vb,
      seq: it.seq,
      id: it.key,
      tail: entryTail(it.key, rev),
    };
    if (it.deleted) {
      out.deletions++;
      let wroteAll = false;
      for (let i = 0; i < was.length; i++) {
        const ch = was[i]!;
        runs.add(ch, doc, EntryState.Deleted);
        if (ch === all) wroteAll = true;
      }
      if (all !== false && !wroteAll) runs.add(all, doc, EntryState.Deleted);
      if (was.length > 0) {
        was.length = 0;
        rec.joined.length = 0;
      }
    } else {
      out.mutations++;
      newChannels.clear();
      ctx.channelsOf(it, newChannels);
      if (all !== false) newChannels.add(all);
      for (let i = 0; i < was.length; i++)
        if (!newChannels.has(was[i]!)) runs.add(was[i]!, doc, EntryState.Removed);
      for (const ch of newChannels) runs.add(ch, doc, EntryState.Active);
      setRecordChannels(rec, newChannels, it.seq);
    }
    // (a deletion is remembered where it made a tombstone: the next version is a generation on)
    if (prev || rec.channels.length > 0 || (it.deleted && all !== false)) {
      rec.seq = it.seq;
      rec.gen = gen;
      rec.rev = rev;
      rec.deleted = it.deleted;
      rec.body = !it.deleted && ctx.storeBodies ? it.value : undefined;
      if (!prev) {
        docs.set(dk, rec);
        out.created.push(dk);
      }
      out.dirtyDocs.set(dk, rec);
    }
  }
  return out;
}
