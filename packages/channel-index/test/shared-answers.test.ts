import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChangesOptions, ChangesResult } from '../src/channel-index.js';
import { copyResult, SharedAnswers } from '../src/internal/shared-answers.js';

// Small pools so that calls collide often; at most 8 argument sets per since (what is kept per
// position), so nothing is evicted and the model below is exact.
const callArb = fc.record({
  since: fc.constantFrom(undefined, 'a', 'b'),
  channels: fc.constantFrom(['x'], ['y'], ['x', 'y']),
  limit: fc.constantFrom(undefined, 5),
  activeOnly: fc.constantFrom(undefined, false, true),
});
const opArb = fc.oneof(
  callArb.map((c) => ({ t: 'call' as const, c })),
  fc.constant({ t: 'commit' as const }),
);

/** What makes two calls the same question (undefined and false activeOnly ask the same). */
const questionOf = (o: ChangesOptions) =>
  JSON.stringify([o.since ?? '', o.channels, o.limit ?? null, o.activeOnly === true]);

const answer = (id: string): ChangesResult => ({
  results: [{ seq: { vbucket: 1, seqno: 2 }, id, rev: '1-aa', removed: ['z'] }],
  lastSeq: id,
});

describe('shared changes() answers', () => {
  it('computes once per question and batch; any other field or a new batch computes again', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), async (ops) => {
        const shared = new SharedAnswers(16);
        let gen = 0;
        let computed = 0;
        // the model: questions answered at the current batch
        let known = new Map<string, string>();
        for (const op of ops) {
          if (op.t === 'commit') {
            gen++;
            known = new Map();
            continue;
          }
          // a fresh channels array each call, as callers pass (equal by value, not identity)
          const o: ChangesOptions = { ...op.c, channels: [...op.c.channels] };
          const before = computed;
          const a = shared.get(o, gen, 0, () => Promise.resolve(answer(`${gen}:${computed++}`)))!;
          const q = questionOf(o);
          if (known.has(q)) expect(computed).toBe(before);
          else {
            expect(computed).toBe(before + 1);
            known.set(q, `${gen}:${before}`);
          }
          expect(a.gen).toBe(gen);
          // the answer is the one computed for this very question at this batch
          expect((await a.p).lastSeq).toBe(known.get(q));
        }
      }),
    );
  });

  it('answers of another epoch are not shared', () => {
    const shared = new SharedAnswers(4);
    let n = 0;
    const compute = () => Promise.resolve(answer(String(n++)));
    const o: ChangesOptions = { channels: ['x'], since: 'a' };
    const a = shared.get(o, 3, 0, compute)!;
    expect(shared.get(o, 3, 0, compute)).toBe(a);
    expect(shared.get(o, 3, 1, compute)).not.toBe(a);
    expect(n).toBe(2);
  });

  it('a caller changing its channels array afterwards changes nothing kept', () => {
    const shared = new SharedAnswers(4);
    let n = 0;
    const compute = () => Promise.resolve(answer(String(n++)));
    const channels = ['x'];
    const a = shared.get({ channels, since: 'a' }, 1, 0, compute)!;
    channels[0] = 'y';
    expect(shared.get({ channels: ['x'], since: 'a' }, 1, 0, compute)).toBe(a);
    expect(shared.get({ channels, since: 'a' }, 1, 0, compute)).not.toBe(a);
  });

  it('arguments that cannot be compared by value are never shared', () => {
    const shared = new SharedAnswers(4);
    const compute = () => Promise.resolve(answer('x'));
    expect(shared.get({ channels: ['x'], since: 'now' }, 1, 0, compute)).toBeUndefined();
    expect(shared.get({ channels: ['x'], since: new Map([[1, 2]]) }, 1, 0, compute)).toBeUndefined();
    expect(shared.get({ channels: 'x' as unknown as string[], since: 'a' }, 1, 0, compute)).toBeUndefined();
  });

  it('keeps the answer once it fulfils, and a rejection reaches every caller', async () => {
    const shared = new SharedAnswers(4);
    const a = shared.get({ channels: ['x'] }, 1, 0, () => Promise.resolve(answer('r')))!;
    expect(a.result).toBeUndefined();
    await a.p;
    expect(a.result?.lastSeq).toBe('r');
    const err = new Error('read failed');
    const b = shared.get({ channels: ['y'] }, 1, 0, () => Promise.reject(err))!;
    await expect(b.p).rejects.toBe(err);
    expect(shared.get({ channels: ['y'] }, 1, 0, () => Promise.resolve(answer('z')))).toBe(b);
  });

  it('each copy is the caller own: changing it leaves the shared answer as it was', () => {
    const r = answer('q');
    r.rolledBack = true;
    const c = copyResult(r);
    expect(c).toEqual(r);
    c.results[0]!.seq.seqno = 99;
    c.results[0]!.removed!.push('w');
    c.results.pop();
    expect(r.results[0]).toEqual({ seq: { vbucket: 1, seqno: 2 }, id: 'q', rev: '1-aa', removed: ['z'] });
  });

  it('keeps at most 8 questions per since position, dropping the oldest', () => {
    const shared = new SharedAnswers(16);
    let computed = 0;
    const ask = (ch: string) =>
      shared.get({ since: 'a', channels: [ch] }, 1, 0, () => Promise.resolve(answer(String(computed++))));
    for (let i = 0; i < 9; i++) ask(`c${i}`);
    expect(computed).toBe(9);
    // c1..c8 are kept: asked again, they are shared
    for (let i = 1; i < 9; i++) ask(`c${i}`);
    expect(computed).toBe(9);
    // c0 was dropped for c8: computed again (and c1, the oldest now, makes room for it)
    ask('c0');
    expect(computed).toBe(10);
    ask('c1');
    expect(computed).toBe(11);
  });
});
