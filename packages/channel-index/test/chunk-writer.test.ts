import type { BatchOp } from '@tributary/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkWriter, type EntryDoc } from '../src/internal/chunk-writer.js';
import { decodeClockUpdates, encodeClockPairs } from '../src/internal/clock-log.js';
import { decodeEntries, entryTail } from '../src/internal/records.js';

// The writer keeps one BatchRuns and its channel objects from batch to batch (their fields say
// which batch they belong to). Against a model of one batch alone: every batch, however many came
// before it and whatever the channel cache dropped in between, groups its entries by channel and
// block in arrival order, names its channels in first-seen order, raises exactly its own clock
// pairs, and puts each block's entries (extended tails included) once.
const entryArb = fc.record({
  ch: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  vb: fc.integer({ min: 0, max: 3 }),
  state: fc.constantFrom(0, 1, 2),
});

describe('ChunkWriter batches', () => {
  it('each batch holds only its own entries, by channel and block, with its own clock pairs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(entryArb, { maxLength: 80 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom(1, 2, 1000),
        fc.constantFrom(1, 2),
        fc.constantFrom(0, 64, 1024),
        // (blocks of 1 seqno give a channel a run per entry: past 8, runs are found through a Map)
        fc.constantFrom(1, 10),
        (batches, channelCacheSize, vbucketsPerBlock, tailCacheSize, BLOCK) => {
          const writer = new ChunkWriter({
            blockPrefix: 'b/',
            tailCacheSize,
            chunkBytes: 256,
            channelCacheSize,
          });
          const seqs = [0, 0, 0, 0];
          // what the store holds: chunk key -> entries as "vb:seq:state"
          const store = new Map<string, string[]>();
          batches.forEach((entries, counter) => {
            const runs = writer.batch(BLOCK, vbucketsPerBlock);
            const model = new Map<string, string[]>(); // channel -> "vb:seq:state" in arrival order
            for (const e of entries) {
              const seq = ++seqs[e.vb]!;
              const doc: EntryDoc = { vb: e.vb, seq, id: 'k', tail: entryTail('k', '1-a') };
              runs.add(e.ch, doc, e.state);
              const list = model.get(e.ch) ?? [];
              list.push(`${e.vb}:${seq}:${e.state}`);
              model.set(e.ch, list);
            }
            expect(runs.entries).toBe(entries.length);
            expect(runs.channelNames()).toEqual([...model.keys()]);
            // runs: one per channel and block, each in arrival order; together, the channel's entries
            const got = new Map<string, string[]>();
            const blocks = new Set<string>();
            for (const run of runs.runs) {
              const list = [...runs.runEntries(run)].map(([d, st]) => {
                expect([Math.floor(d.seq / BLOCK), Math.floor(d.vb / vbucketsPerBlock)]).toEqual([
                  run.blk,
                  run.part,
                ]);
                return `${d.vb}:${d.seq}:${st}`;
              });
              const arrival = list.map((x) => model.get(run.ch.ch)!.indexOf(x));
              expect(arrival).toEqual([...arrival].sort((x, y) => x - y));
              const block = `${run.ch.ch}/${run.blk}/${run.part}`;
              expect(blocks.has(block)).toBe(false);
              blocks.add(block);
              got.set(run.ch.ch, [...(got.get(run.ch.ch) ?? []), ...list]);
            }
            const sorted = (m: Map<string, string[]>) =>
              new Map([...m].map(([ch, l]) => [ch, [...l].sort()]));
            expect(sorted(got)).toEqual(sorted(model));
            // clock pairs: per channel, the highest seqno per vbucket of this batch alone
            const pairs = runs.clockPairs();
            const want = new Map(
              [...model].map(([ch, l]) => [
                ch,
                new Map(
                  l
                    .map((s) => s.split(':').map(Number) as [number, number, number])
                    .map(([vb, seq]) => [vb, seq]),
                ),
              ]),
            );
            expect(decodeClockUpdates(encodeClockPairs(pairs))).toEqual(want);
            // chunk puts: one per run, no key twice; the store ends up with every entry once
            const ops: BatchOp[] = [];
            expect(writer.write(runs, counter + 1, ops)).toBe(runs.runs.length);
            expect(new Set(ops.map((o) => Buffer.from(o.key).toString('latin1'))).size).toBe(ops.length);
            writer.keep();
            for (const op of ops)
              store.set(
                Buffer.from(op.key).toString('latin1'),
                decodeEntries(Buffer.from((op as { value: Uint8Array }).value)).map(
                  (x) => `${x.vb}:${x.seq}:${x.state}`,
                ),
              );
          });
          const all = [...store.values()].flat().sort();
          expect(all.length).toBe(batches.flat().length);
          expect(new Set(all).size).toBe(all.length);
        },
      ),
    );
  });

  it("finds an earlier run of a channel's block again, past the runs it scans (many blocks in a batch)", () => {
    const writer = new ChunkWriter({ blockPrefix: 'b/', tailCacheSize: 0, chunkBytes: 256 });
    for (let round = 0; round < 2; round++) {
      // blocks of one seqno, two vbuckets a block: vb 0 opens 20 blocks, vb 1 then joins each of them
      const runs = writer.batch(1, 2);
      for (const vb of [0, 1])
        for (let seq = 1; seq <= 20; seq++)
          runs.add('a', { vb, seq: round * 100 + seq, id: 'k', tail: entryTail('k', '1-a') }, 0);
      expect(runs.runs.length).toBe(20);
      for (const run of runs.runs) expect([...runs.runEntries(run)].map(([d]) => d.vb)).toEqual([0, 1]);
    }
  });

  it("extends the last chunk of each of a channel's two latest blocks while its entries alternate between them", () => {
    const writer = new ChunkWriter({ blockPrefix: 'b/', tailCacheSize: 64, chunkBytes: 1024 });
    const keysOf = (ops: BatchOp[]) => ops.map((o) => Buffer.from(o.key).toString('latin1'));
    const batch = (counter: number, seqs: number[]) => {
      const runs = writer.batch(10, 1024);
      for (const seq of seqs) runs.add('a', { vb: seq % 2, seq, id: 'k', tail: entryTail('k', '1-a') }, 0);
      const ops: BatchOp[] = [];
      writer.write(runs, counter, ops);
      writer.keep();
      return keysOf(ops);
    };
    // vbucket 1 is in block 0 (seqnos 0-9) while vbucket 0 is in block 1 (10-19), batch after batch
    const first = batch(1, [5, 10]);
    expect(first).toHaveLength(2);
    expect(batch(2, [7, 12])).toEqual(first);
    expect(batch(3, [9, 14])).toEqual(first);
    // a third block retires the oldest: an entry of block 0 then starts a new chunk there (the
    // writer does not know seqnos: any vbucket may bring one)
    const third = batch(4, [20]);
    expect(third).not.toContain(first[0]);
    expect(batch(5, [3])).not.toEqual([first[0]]);
  });
});
