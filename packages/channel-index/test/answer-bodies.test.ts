import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChangeEntry } from '../src/channel-index.js';
import { entryJson, RESULTS_HEAD, resultsTail, SharedTails } from '../src/internal/answer-bodies.js';

// Small alphabets so that pages, hints and last_seqs collide often.
const entryArb: fc.Arbitrary<ChangeEntry> = fc
  .record({
    vb: fc.integer({ min: 0, max: 3 }),
    seqno: fc.integer({ min: 1, max: 4 }),
    id: fc.constantFrom('a', 'b', 'c'),
    rev: fc.constantFrom('1-aa', '2-bb'),
    kind: fc.constantFrom('active', 'deleted', 'removed'),
    removed: fc.subarray(['red', 'blue']),
  })
  .map(({ vb, seqno, id, rev, kind, removed }) => {
    const e: ChangeEntry = { seq: { vbucket: vb, seqno }, id, rev };
    if (kind === 'deleted') e.deleted = true;
    if (kind === 'removed') e.removed = removed;
    return e;
  });
const pageArb = fc.record({
  hint: fc.constantFrom('h1', 'h2'),
  results: fc.array(entryArb, { maxLength: 3 }),
  lastSeq: fc.constantFrom('1', '2', 'x"y'),
});

describe('longpoll answer bodies', () => {
  it('head + tail is the CouchDB / Sync Gateway _changes JSON of the page', () => {
    fc.assert(
      fc.property(pageArb, ({ results, lastSeq }) => {
        const body = JSON.parse(RESULTS_HEAD + resultsTail(results, lastSeq));
        expect(body).toEqual({
          results: results.map((e) => JSON.parse(entryJson(e))),
          last_seq: lastSeq,
        });
        for (const [i, e] of results.entries()) {
          const row = body.results[i];
          expect(row.seq).toBe(`${e.seq.vbucket}:${e.seq.seqno}`);
          expect(row.changes).toEqual([{ rev: e.rev }]);
          expect(row.deleted).toBe(e.deleted);
          expect(row.removed).toEqual(e.removed);
        }
      }),
    );
  });

  it('a shared tail is always the bytes of the page asked about, whatever was kept under the hint', () => {
    fc.assert(
      fc.property(fc.array(pageArb, { minLength: 1, maxLength: 30 }), (pages) => {
        let shared = 0;
        const tails = new SharedTails(() => shared++, 4);
        for (const { hint, results, lastSeq } of pages) {
          // each caller gets its own copy of the entries, as from the index
          const copy = structuredClone(results);
          expect(tails.tail(hint, copy, lastSeq).toString('utf8')).toBe(resultsTail(results, lastSeq));
        }
        expect(shared).toBeLessThan(pages.length);
      }),
    );
  });

  it('equal pages share one buffer; pages with documents are never kept', () => {
    let shared = 0;
    const tails = new SharedTails(() => shared++);
    const page = (): ChangeEntry[] => [{ seq: { vbucket: 7, seqno: 2 }, id: 'd', rev: '1-a' }];
    const a = tails.tail('k', page(), '9');
    expect(tails.tail('k', page(), '9')).toBe(a);
    expect(shared).toBe(1);
    // same entries, another last_seq; another entry, same last_seq: fresh bytes
    expect(tails.tail('k', page(), '10')).not.toBe(a);
    expect(tails.tail('k', [{ ...page()[0]!, rev: '2-b' }], '10').toString()).toContain('2-b');
    const withDoc = () => [{ ...page()[0]!, doc: { _id: 'd', secret: 'x' } }];
    const d1 = tails.tail('doc', withDoc(), '9');
    const d2 = tails.tail('doc', withDoc(), '9');
    expect(d2).not.toBe(d1);
    expect(d2.toString()).toBe(d1.toString());
    expect(shared).toBe(1);
  });

  it('pages that differ only in the removed channels of an entry are not shared; equal lists are', () => {
    let shared = 0;
    const tails = new SharedTails(() => shared++);
    const page = (removed?: string[]): ChangeEntry[] => [
      { seq: { vbucket: 1, seqno: 5 }, id: 'd', rev: '2-b', ...(removed ? { removed } : {}) },
    ];
    const asked = [undefined, ['red'], ['blue'], ['red', 'blue'], ['blue', 'red'], ['red'], undefined];
    for (const removed of asked) {
      expect(tails.tail('k', page(removed), '9').toString()).toBe(resultsTail(page(removed), '9'));
    }
    expect(shared).toBe(0);
    // the same list in a new array (each reader gets its own copy) is the same page
    const kept = tails.tail('k', page(['red', 'blue']), '9');
    expect(tails.tail('k', page(['red', 'blue']), '9')).toBe(kept);
    expect(shared).toBe(1);
  });
});
