import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ApplyContext, applyMutations, type UpdateItem } from '../src/internal/apply-mutations.js';
import { ChunkWriter } from '../src/internal/chunk-writer.js';
import { type DocRecord, EntryState } from '../src/internal/records.js';

// applyMutations against a model of Sync Gateway's rules: a document's entries in a batch are an
// active entry in each channel it is in (and "*"), a removal in each channel it left, and on
// deletion a tombstone in each channel it was in; redeliveries (seq at or below what was applied)
// are skipped; a record remembers only the channels the document is in.
const KEYS = ['k0', 'k1', 'k2', 'k3'];
const CHANNELS = ['a', 'b', 'c'];

const op = fc.record({
  key: fc.constantFrom(...KEYS),
  channels: fc.subarray(CHANNELS),
  deleted: fc.boolean(),
  redeliver: fc.boolean(),
});

/** A mutation of `key` into `channels` (or its deletion) as the worker queues it. */
const updateItem = (
  vb: number,
  seq: number,
  key: string,
  channels: string[],
  deleted = false,
): UpdateItem => ({
  t: 0,
  vb,
  seq,
  key,
  value: Buffer.from(JSON.stringify({ channels })),
  deleted,
  cas: 1n,
  flags: 0,
  expiry: 0,
  revSeqno: undefined,
  datatype: 0,
  xattrs: undefined,
});

const ctx = (applied: Map<number, number>): ApplyContext => ({
  applied,
  allDocsChannel: '*',
  storeBodies: false,
  channelsOf: (it, out) => {
    for (const ch of (JSON.parse(it.value.toString()) as { channels: string[] }).channels) out.add(ch);
  },
});

describe('applyMutations (one write batch, in order)', () => {
  it('writes exactly the active, removal and tombstone entries the model expects', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(1, 2),
        (ops, batchSize, vbucketsPerBlock) => {
          const writer = new ChunkWriter({ blockPrefix: 'b/', tailCacheSize: 0, chunkBytes: 1024 });
          const applied = new Map<number, number>();
          const seqs = new Map<number, number>();
          const docs = new Map<string, DocRecord | null>();
          const model = new Map<string, Set<string>>(); // key -> channels it is in now (with "*")
          const items: UpdateItem[] = [];
          for (const o of ops) {
            const vb = KEYS.indexOf(o.key) % 2;
            const last = seqs.get(vb) ?? 0;
            // a redelivery repeats the vbucket's last seqno (when there is one)
            const seq = o.redeliver && last > 0 ? last : last + 1;
            seqs.set(vb, seq);
            items.push(updateItem(vb, seq, o.key, o.channels, o.deleted));
          }
          const seen = new Map<number, number>(); // model of "applied"
          for (let from = 0; from < items.length; from += batchSize) {
            const batch = items.slice(from, from + batchSize);
            const dks = batch.map((it) => `${it.vb}/${it.key}`);
            const runs = writer.batch(100, vbucketsPerBlock);
            const r = applyMutations(batch, dks, docs, runs, ctx(applied));
            const got: string[] = [];
            for (const run of runs.runs)
              for (const [d, state] of runs.runEntries(run)) {
                // every entry sits in its own block: its partition of vbuckets and its seqno range
                expect([Math.floor(d.vb / vbucketsPerBlock), Math.floor(d.seq / 100)]).toEqual([
                  run.part,
                  run.blk,
                ]);
                got.push(`${d.seq}:${d.vb}:${d.id}:${run.ch.ch}:${state}`);
              }
            const want: string[] = [];
            let dups = 0;
            for (const it of batch) {
              if (it.seq <= (seen.get(it.vb) ?? 0)) {
                dups++;
                continue;
              }
              seen.set(it.vb, it.seq);
              const before = model.get(it.key) ?? new Set<string>();
              const e = (ch: string, st: number) => want.push(`${it.seq}:${it.vb}:${it.key}:${ch}:${st}`);
              if (it.deleted) {
                for (const ch of before) e(ch, EntryState.Deleted);
                if (!before.has('*')) e('*', EntryState.Deleted);
                model.set(it.key, new Set());
              } else {
                const now = new Set([...(JSON.parse(it.value.toString()).channels as string[]), '*']);
                for (const ch of before) if (!now.has(ch)) e(ch, EntryState.Removed);
                for (const ch of now) e(ch, EntryState.Active);
                model.set(it.key, now);
              }
            }
            expect(got.sort()).toEqual(want.sort());
            expect(r.duplicates).toBe(dups);
            for (const [vb, seq] of r.stableUp) applied.set(vb, seq);
          }
          for (const [key, chans] of model) {
            const rec = docs.get(`${KEYS.indexOf(key) % 2}/${key}`);
            // (in name order, which the record's encoding relies on)
            expect(rec?.channels ?? []).toEqual([...chans].sort());
            expect(rec?.joined.length ?? 0).toBe(chans.size);
            // (each with the seqno of the document's change that put it there: a seqno it had)
            for (const joined of rec?.joined ?? [])
              expect(items.some((it) => it.key === key && it.seq === joined && !it.deleted)).toBe(true);
          }
        },
      ),
    );
  });

  it('a record keeps a body only with storeBodies and never for a deletion; a document in no channel gets none', () => {
    const item = (seq: number, key: string, channels: string[], deleted = false) =>
      updateItem(0, seq, key, channels, deleted);
    const apply = (
      storeBodies: boolean,
      allDocsChannel: string | false,
      items: (UpdateItem | { t: 2 })[],
    ) => {
      const docs = new Map<string, DocRecord | null>();
      const runs = new ChunkWriter({ blockPrefix: 'b/', tailCacheSize: 0, chunkBytes: 1024 }).batch(100, 1);
      const dks = items.map((it) => ('key' in it ? `0/${it.key}` : ''));
      const r = applyMutations(items, dks, docs, runs, { ...ctx(new Map()), storeBodies, allDocsChannel });
      return { docs, r };
    };
    const a = item(1, 'a', ['x']);
    const kept = apply(true, '*', [a, item(2, 'b', ['x']), item(3, 'b', [], true)]).docs;
    expect(kept.get('0/a')?.body).toEqual(a.value);
    expect([kept.get('0/b')?.deleted, kept.get('0/b')?.body]).toEqual([true, undefined]);
    expect(apply(false, '*', [a]).docs.get('0/a')?.body).toBeUndefined();
    // with no "*" channel, a document in no channel (or deleted unseen) has nothing to remember
    const none = apply(true, false, [item(1, 'n', []), item(2, 'm', [], true)]);
    expect([none.docs.size, none.r.dirtyDocs.size]).toEqual([0, 0]);
    // a rollback's place in the queue is not a mutation
    const around = apply(true, '*', [{ t: 2 }, a]);
    expect([...around.r.stableUp]).toEqual([[0, 1]]);
    expect([...around.docs.keys()]).toEqual(['0/a']);
  });
});
