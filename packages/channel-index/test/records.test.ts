import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BlockEntry,
  type DocRecord,
  decodeDoc,
  decodeEntries,
  encodeDoc,
  encodeEntries,
  recordChannels,
  setRecordChannels,
  truncateBlock,
} from '../src/internal/records.js';

const entryArb = fc.record({
  vb: fc.integer({ min: 0, max: 3 }),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  state: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
  id: fc.string({ unit: 'grapheme', maxLength: 40 }),
  rev: fc.stringMatching(/^[0-9]{1,6}-[0-9a-f]{16}$/),
});

describe('block and document record encodings', () => {
  it('blocks round-trip, filter by vbucket and seq, and truncate one vbucket at any seqno', () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 30 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (raw, vb, cut) => {
          // (a block holds several vbuckets' entries interleaved, each vbucket's ascending)
          const entries: BlockEntry[] = [...raw].sort((a, b) => a.seq - b.seq);
          const bytes = encodeEntries(entries);
          expect(decodeEntries(bytes)).toEqual(entries);
          expect(decodeEntries(bytes, (v, s) => v === vb && s > cut)).toEqual(
            entries.filter((e) => e.vb === vb && e.seq > cut),
          );
          const { bytes: kept, maxSeq, changed } = truncateBlock(bytes, vb, cut);
          const keptEntries = entries.filter((e) => e.vb !== vb || e.seq <= cut);
          expect(decodeEntries(kept)).toEqual(keptEntries);
          expect(changed).toBe(keptEntries.length !== entries.length);
          expect(maxSeq).toBe(keptEntries.filter((e) => e.vb === vb).at(-1)?.seq ?? 0);
          // appending is concatenation
          expect(
            decodeEntries(
              Buffer.concat([encodeEntries(entries.slice(0, 3)), encodeEntries(entries.slice(3))]),
            ),
          ).toEqual(entries);
        },
      ),
    );
  });

  it('a truncated block decodes to a prefix, never throws', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 10 }), fc.nat(), (entries, n) => {
        const bytes = encodeEntries(entries);
        const cut = bytes.subarray(0, n % bytes.length);
        const got = decodeEntries(cut);
        expect(entries.slice(0, got.length)).toEqual(got);
      }),
    );
  });

  it('document records round-trip', () => {
    const recArb = fc
      .record({
        seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        gen: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        rev: fc.stringMatching(/^[0-9]{1,6}-[0-9a-f]{16}$/),
        deleted: fc.boolean(),
        channels: fc
          .array(
            fc.tuple(
              // (ASCII names and any others: both encodings' paths)
              fc.oneof(
                fc.string({ minLength: 1, maxLength: 20 }),
                fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
              ),
              fc.integer({ min: 0, max: 2 ** 40 }),
            ),
            {
              maxLength: 8,
            },
          )
          // (a record holds its channels in name order, each once)
          .map((pairs) => recordChannels(new Map(pairs))),
        body: fc.option(
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
          { nil: undefined },
        ),
      })
      .map(({ channels, ...rest }) => ({ ...rest, ...channels }));
    fc.assert(
      fc.property(recArb, (rec: DocRecord) => {
        expect(decodeDoc(encodeDoc(rec))).toEqual(rec);
      }),
    );
  });

  it("setRecordChannels keeps a record's channels in name order, each joined at the seqno, in place", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 10 }),
        fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (before, names, seq) => {
          const rec: DocRecord = {
            seq: 0,
            gen: 0,
            rev: '',
            deleted: false,
            ...recordChannels(before.map((c) => [c, 1])),
          };
          const arrays = [rec.channels, rec.joined];
          setRecordChannels(rec, new Set(names), seq);
          expect(rec.channels).toEqual([...names].sort());
          expect(rec.joined).toEqual(names.map(() => seq));
          // (the writer updates cached records in place: no new arrays per mutation)
          expect([rec.channels, rec.joined]).toEqual(arrays);
          expect(rec.channels).toBe(arrays[0]);
          expect(rec.joined).toBe(arrays[1]);
        },
      ),
    );
  });
});
