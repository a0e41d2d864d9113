import { getEventListeners } from 'node:events';
import {
  type ChangeEntry,
  createChannelIndex,
  decodeSince,
  decodeSinceToken,
  encodeSince,
} from '@tributary/channel-index';
import { isTributaryError } from '@tributary/core';
import { createMemoryBackend, createMemoryStore } from '@tributary/store-memory';
import { describe, expect, it } from 'vitest';
import { encodeClock } from '../src/internal/keys.js';
import {
  activeTimers,
  allChanges,
  del,
  dumpIndex,
  dumpWrittenAtOnce,
  gatedStore,
  indexOneByOne,
  mut,
  until,
  workload,
} from './helpers.js';

describe('channel index on the memory store', () => {
  it('indexes documents into their channels and serves them in a stable order', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatch: 100, maxBatchDelayMs: 0, blockSize: 4 });
    await index.applyBatch([
      mut(0, 1, 'a', { channels: ['red'] }),
      mut(1, 1, 'b', { channels: 'blue' }),
      mut(0, 2, 'c', { channels: ['red', 'blue'] }),
      mut(2, 1, 'd', {}),
    ]);
    await index.flush();
    const red = await index.changes({ channels: ['red'] });
    expect(red.results.map((r) => r.id)).toEqual(['a', 'c']);
    expect(red.results[0]!.seq).toEqual({ vbucket: 0, seqno: 1 });
    expect(red.results[0]!.rev).toMatch(/^1-[0-9a-f]{16}$/);
    const both = await index.changes({ channels: ['red', 'blue'] });
    expect(both.results.map((r) => `${r.id}@${r.seq.vbucket}:${r.seq.seqno}`)).toEqual([
      'a@0:1',
      'b@1:1',
      'c@0:2',
    ]);
    const all = await index.changes({ channels: ['*'] });
    expect(all.results.map((r) => r.id).sort()).toEqual(['a', 'b', 'c', 'd']);
    // since=lastSeq: nothing new; a new write shows up alone
    expect((await index.changes({ channels: ['red'], since: red.lastSeq })).results).toEqual([]);
    await index.applyBatch([mut(0, 3, 'e', { channels: ['red'] })]);
    await index.flush();
    const next = await index.changes({ channels: ['red'], since: red.lastSeq });
    expect(next.results.map((r) => r.id)).toEqual(['e']);
    expect(decodeSince(next.lastSeq).get(0)).toBe(3);
    expect(index.stats().counters.mutations).toBe(5);
    await index.close();
  });

  it('writes removal entries when a document leaves a channel and tombstones in every channel on deletion', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
    await index.applyBatch([mut(3, 1, 'doc', { channels: ['a', 'b'] })]);
    await index.flush();
    const s1 = (await index.changes({ channels: ['a', 'b', 'c'] })).lastSeq;
    await index.applyBatch([mut(3, 2, 'doc', { channels: ['b', 'c'] })]);
    await index.flush();
    const a = await index.changes({ channels: ['a'], since: s1 });
    expect(a.results).toEqual([
      { seq: { vbucket: 3, seqno: 2 }, id: 'doc', rev: expect.any(String), removed: ['a'] },
    ]);
    // Still visible through b: a normal entry for a reader of a and b.
    const ab = await index.changes({ channels: ['a', 'b'], since: s1 });
    expect(ab.results[0]!.removed).toBeUndefined();
    expect((await index.changes({ channels: ['a'], since: s1, activeOnly: true })).results).toEqual([]);
    await index.applyBatch([del(3, 3, 'doc')]);
    await index.flush();
    for (const ch of ['b', 'c', '*']) {
      const r = await index.changes({ channels: [ch] });
      expect(r.results).toEqual([
        { seq: { vbucket: 3, seqno: 3 }, id: 'doc', rev: expect.any(String), deleted: true },
      ]);
    }
    // a keeps its removal entry (the doc left a before it was deleted)
    expect((await index.changes({ channels: ['a'] })).results[0]!.removed).toEqual(['a']);
    expect(index.stats().counters.removals).toBe(1);
    expect(index.stats().counters.tombstones).toBe(3);
    // re-created: active again, no removal where it never was
    await index.applyBatch([mut(3, 4, 'doc', { channels: ['a'] })]);
    await index.flush();
    expect((await index.changes({ channels: ['a'] })).results).toEqual([
      { seq: { vbucket: 3, seqno: 4 }, id: 'doc', rev: expect.stringMatching(/^4-/) },
    ]);
    await index.close();
  });

  it('pages with limit and a since token without losing or repeating an entry', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatch: 50, maxBatchDelayMs: 0, blockSize: 8 });
    const muts = workload(600, 8, 10);
    await index.applyBatch(muts);
    await index.flush();
    for (const chans of [['ch1'], ['ch2', 'ch3'], ['*']]) {
      const whole = await index.changes({ channels: chans });
      const paged = await allChanges(index, chans, undefined, 7);
      // A document changed again after an earlier page may appear again (at its newer seq), never
      // the same change twice, and its last appearance is the one the whole feed shows.
      const pairs = paged.results.map((r) => `${r.id}@${r.seq.vbucket}:${r.seq.seqno}`);
      expect(new Set(pairs).size).toBe(pairs.length);
      const last = new Map(paged.results.map((r) => [r.id, r]));
      expect(new Map(whole.results.map((r) => [r.id, r]))).toEqual(last);
      expect(whole.lastSeq).toBe(paged.lastSeq);
    }
    // stable: same question, same answer
    const a = await index.changes({ channels: ['ch4'], limit: 13 });
    const b = await index.changes({ channels: ['ch4'], limit: 13 });
    expect(b).toEqual(a);
    await index.close();
  });

  it.each([1, 3, 1024])(
    'serves the same feeds with %i vbuckets per block, and a rollback keeps the other vbuckets of its blocks',
    async (vbucketsPerBlock) => {
      // (blocks of 64 seqnos hold several chunks, so a page can stop inside a block)
      const muts = workload(3000, 8, 10);
      const opts = { maxBatchDelayMs: 0, blockSize: 64 };
      const ref = createChannelIndex({
        store: createMemoryStore(),
        ...opts,
        maxBatch: 600,
        vbucketsPerBlock: 1,
      });
      const index = createChannelIndex({
        store: createMemoryStore(),
        ...opts,
        maxBatch: 50,
        vbucketsPerBlock,
      });
      await ref.applyBatch(muts);
      await index.applyBatch(muts);
      await ref.flush();
      await index.flush();
      for (const chans of [['ch1'], ['ch2', 'ch3'], ['*']]) {
        const whole = await index.changes({ channels: chans });
        expect(whole).toEqual(await ref.changes({ channels: chans }));
        const paged = await allChanges(index, chans, undefined, 7);
        const pairs = paged.results.map((r) => `${r.id}@${r.seq.vbucket}:${r.seq.seqno}`);
        expect(new Set(pairs).size).toBe(pairs.length);
        expect(new Map(paged.results.map((r) => [r.id, r]))).toEqual(
          new Map(whole.results.map((r) => [r.id, r])),
        );
        expect(paged.lastSeq).toBe(whole.lastSeq);
      }
      // vb 2 rolls back to half its seqnos: every other vbucket's entries stay, in blocks it shares
      const top = Math.max(...muts.filter((m) => m.vbucket === 2).map((m) => m.seqno));
      const cut = Math.floor(top / 2);
      await index.rollback(2, cut);
      const others = (r: { results: ChangeEntry[] }) => r.results.filter((e) => e.seq.vbucket !== 2);
      const after = await index.changes({ channels: ['*'] });
      expect(others(after)).toEqual(others(await ref.changes({ channels: ['*'] })));
      expect(after.results.filter((e) => e.seq.vbucket === 2).every((e) => e.seq.seqno <= cut)).toBe(true);
      expect(after.results.some((e) => e.seq.vbucket === 2)).toBe(true);
      // and pages still add up to the whole feed (a compensation entry sits in seqno order)
      for (let c = 0; c < 10; c++) {
        const whole = await index.changes({ channels: [`ch${c}`] });
        const pagedAfter = await allChanges(index, [`ch${c}`], undefined, 2);
        expect(new Map(pagedAfter.results.map((r) => [r.id, r]))).toEqual(
          new Map(whole.results.map((r) => [r.id, r])),
        );
      }
      expect(index.stats().counters.rollback_removals).toBeGreaterThan(0);
      await index.close();
      await ref.close();
    },
  );

  it('a reader following its lastSeq batch after batch misses nothing (reads seek chunks by batch)', async () => {
    const index = createChannelIndex({ store: createMemoryStore(), maxBatchDelayMs: 0, blockSize: 16 });
    const muts = workload(2500, 8, 6, 11);
    const chans = [['ch1'], ['ch2', 'ch4'], ['*']];
    const seen = chans.map(() => new Map<string, ChangeEntry>());
    const since = chans.map(() => '0');
    let at = 0;
    let n = 1;
    while (at < muts.length) {
      // batches of 1 to 60 mutations: chunks extended across batches and new ones started
      n = (n * 7 + 3) % 60;
      await index.applyBatch(muts.slice(at, at + n + 1));
      await index.flush();
      at += n + 1;
      for (let c = 0; c < chans.length; c++) {
        const r = await index.changes({ channels: chans[c]!, since: since[c] });
        for (const e of r.results) seen[c]!.set(e.id, e);
        since[c] = r.lastSeq;
      }
    }
    for (let c = 0; c < chans.length; c++) {
      const whole = await index.changes({ channels: chans[c]! });
      expect(seen[c]).toEqual(new Map(whole.results.map((e) => [e.id, e])));
      expect(since[c]).toBe(whole.lastSeq);
    }
    expect(index.stats().counters.reads_from_batch).toBeGreaterThan(100);
    await index.close();
  });

  it('a page cut short by its read is not a complete position, even when it holds every document it read', async () => {
    // Three chunks of one block: 100 changes of "a"; "m" and 100 more of "a"; then "z". A page of
    // 2 reads the first chunk only (it holds over twice the limit) and finds one document. Were that
    // position taken as complete, the next read would seek only later batches' chunks and skip "m".
    const index = createChannelIndex({ store: createMemoryStore(), maxBatchDelayMs: 0, blockSize: 1000 });
    let seq = 0;
    const as = () => Array.from({ length: 100 }, () => mut(0, ++seq, 'a', { channels: 'c' }));
    await index.applyBatch(as());
    await index.flush();
    await index.applyBatch([mut(0, ++seq, 'm', { channels: 'c' }), ...as()]);
    await index.flush();
    await index.applyBatch([mut(0, ++seq, 'z', { channels: 'c' })]);
    await index.flush();
    const seen: string[] = [];
    let since = '0';
    for (let page = 0; page < 10; page++) {
      const r = await index.changes({ channels: ['c'], since, limit: 2 });
      if (r.results.length === 0) break;
      for (const e of r.results) seen.push(`${e.id}@${e.seq.seqno}`);
      since = r.lastSeq;
    }
    expect(seen).toEqual(['a@100', 'm@101', 'a@201', 'z@202']);
    await index.close();
  });

  it('pages through a backlog inside one block a page at a time', async () => {
    // (every seqno in block 0: a read from 0 finds more than a page newest-first and goes forward)
    const index = createChannelIndex({
      store: createMemoryStore(),
      maxBatch: 40,
      maxBatchDelayMs: 0,
      blockSize: 1000,
    });
    await index.applyBatch(workload(800, 8, 4));
    await index.flush();
    for (const chans of [['ch0'], ['*']]) {
      const whole = await index.changes({ channels: chans });
      const paged = await allChanges(index, chans, undefined, 5);
      expect(new Map(paged.results.map((r) => [r.id, r]))).toEqual(
        new Map(whole.results.map((r) => [r.id, r])),
      );
      expect(paged.lastSeq).toBe(whole.lastSeq);
    }
    expect(index.stats().counters.backward_reads_abandoned).toBeGreaterThan(0);
    await index.close();
  });

  it('include_docs returns bodies only for documents still visible in the channels asked for', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
    await index.applyBatch([
      mut(0, 1, 'x', { channels: ['pub'], v: 1 }),
      mut(0, 2, 'y', { channels: ['pub'], secret: 'no' }),
    ]);
    await index.flush();
    const first = await index.changes({ channels: ['pub'], includeDocs: true });
    expect(first.results[0]!.doc).toEqual({ _id: 'x', _rev: first.results[0]!.rev, channels: ['pub'], v: 1 });
    await index.applyBatch([mut(0, 3, 'y', { channels: ['private'], secret: 'yes' })]);
    await index.flush();
    const after = await index.changes({ channels: ['pub'], includeDocs: true });
    const y = after.results.find((r) => r.id === 'y')!;
    expect(y.removed).toEqual(['pub']);
    expect(y.doc).toEqual({ _id: 'y', _rev: y.rev, _removed: true });
    expect(JSON.stringify(after)).not.toContain('yes');
    await index.close();
  });

  it('applies back-pressure: producers wait while the pending queue is full', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatch: 10, maxPending: 20, maxBatchDelayMs: 0 });
    const muts = workload(500, 4, 5);
    let maxPending = 0;
    const p = index.applyBatch(muts);
    await until(() => {
      maxPending = Math.max(maxPending, index.stats().pending);
      return index.stats().counters.mutations + index.stats().counters.deletions > 0;
    });
    await p;
    await index.flush();
    expect(maxPending).toBeLessThanOrEqual(20);
    expect(index.stats().counters.backpressure_waits).toBeGreaterThan(0);
    expect(index.stats().counters.mutations + index.stats().counters.deletions).toBe(500);
    await index.close();
  });

  it('ignores redelivered mutations (restart replays neither lose nor duplicate)', async () => {
    const s1 = createMemoryStore();
    const s2 = createMemoryStore();
    const muts = workload(400, 8, 10);
    const a = createChannelIndex({ store: s1, maxBatch: 37, maxBatchDelayMs: 0 });
    await a.applyBatch(muts.slice(0, 250));
    await a.applyBatch(muts); // overlap: the first 250 again
    await a.flush();
    expect(a.stats().counters.duplicates).toBe(250);
    const b = createChannelIndex({ store: s2, maxBatch: 1000, maxBatchDelayMs: 0 });
    await b.applyBatch(muts);
    await b.flush();
    expect(await dumpIndex(s1)).toEqual(await dumpIndex(s2));
    await a.close();
    await b.close();
  });

  it('a record cache too small to hold every document reads records back and builds the same index', async () => {
    const muts = workload(1200, 8, 10);
    const small = createMemoryStore();
    const full = createMemoryStore();
    // (4 records: nearly every update misses the cache and reads its record from the store)
    const a = createChannelIndex({ store: small, maxBatch: 23, maxBatchDelayMs: 0, docCacheSize: 4 });
    const b = createChannelIndex({ store: full, maxBatch: 23, maxBatchDelayMs: 0 });
    await a.applyBatch(muts);
    await b.applyBatch(muts);
    await a.flush();
    await b.flush();
    expect(small.stats().gets).toBeGreaterThan(500);
    expect(await dumpIndex(small)).toEqual(await dumpIndex(full));
    expect(await allChanges(a, ['*'])).toEqual(await allChanges(b, ['*']));
    // Every body served is the document's last one, whether its record was cached or read back
    // (the writer keeps no bodies in its cache: each is in the record's bytes once written).
    const last = new Map<string, (typeof muts)[number]>();
    for (const m of muts) last.set(Buffer.from(m.key).toString(), m);
    for (const index of [a, b]) {
      const { results } = await index.changes({ channels: ['*'], includeDocs: true, limit: 10_000 });
      expect(results.length).toBe(last.size);
      for (const r of results) {
        const m = last.get(r.id)!;
        if (m.kind === 'mutation')
          expect(r.doc).toEqual({ ...JSON.parse(Buffer.from(m.value).toString()), _id: r.id, _rev: r.rev });
        else expect(r.doc).toEqual({ _id: r.id, _rev: r.rev, _deleted: true });
      }
    }
    await a.close();
    await b.close();
  });

  it('a custom channelsOf sees the key, the parsed body and the mutation meta; throws and bad names are counted', async () => {
    const seen: { key: string; body: unknown; vbucket: number; seqno: number; cas: bigint; value: string }[] =
      [];
    const index = createChannelIndex({
      store: createMemoryStore(),
      maxBatchDelayMs: 0,
      channelsOf: (key, body, meta) => {
        seen.push({
          key,
          body,
          vbucket: meta.vbucket,
          seqno: meta.seqno,
          cas: meta.cas,
          value: meta.value.toString(),
        });
        if (key === 'boom') throw new Error('boom');
        return key === 'bad' ? ['ok', '', 'x\u0000y', 'z'.repeat(201)] : `by-${key}`;
      },
    });
    await index.applyBatch([
      mut(3, 1, 'a', { n: 1 }),
      mut(5, 9, 'boom', { n: 2 }),
      mut(5, 10, 'bad', { n: 3 }),
    ]);
    await index.flush();
    expect(seen).toEqual([
      { key: 'a', body: { n: 1 }, vbucket: 3, seqno: 1, cas: 1003n, value: '{"n":1}' },
      { key: 'boom', body: { n: 2 }, vbucket: 5, seqno: 9, cas: 9005n, value: '{"n":2}' },
      { key: 'bad', body: { n: 3 }, vbucket: 5, seqno: 10, cas: 10005n, value: '{"n":3}' },
    ]);
    expect((await index.changes({ channels: ['by-a'] })).results.map((r) => r.id)).toEqual(['a']);
    expect((await index.changes({ channels: ['ok'] })).results.map((r) => r.id)).toEqual(['bad']);
    // (a document whose channelsOf threw is in no channel but the all-docs one)
    expect((await index.changes({ channels: ['*'] })).results.map((r) => r.id).sort()).toEqual([
      'a',
      'bad',
      'boom',
    ]);
    const c = index.stats().counters;
    expect(c.channels_of_errors).toBe(1);
    expect(c.bad_channels).toBe(3);
    await index.close();
  });

  it('rollback removes entries above the seqno and rewinds clocks and document state', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 0, blockSize: 2 });
    const before = [
      mut(5, 1, 'p', { channels: ['a'] }),
      mut(5, 2, 'q', { channels: ['a'] }),
      mut(6, 1, 'r', { channels: ['a'] }),
      mut(5, 3, 'p', { channels: ['b'] }),
    ];
    await index.applyBatch(before);
    await index.applyBatch([
      mut(5, 4, 'q', { channels: ['b'] }),
      del(5, 5, 'p'),
      mut(5, 6, 's', { channels: ['a'] }),
    ]);
    await index.flush();
    await index.rollback(5, 3);
    // The same as an index that only ever saw the first four, but for what readers that saw the
    // rolled-back branch need: q (in b only on that branch) leaves b at its restored seqno 2, and
    // s (only on that branch) keeps a ghost record of its channels.
    const fresh = createMemoryStore();
    const ref = createChannelIndex({ store: fresh, maxBatchDelayMs: 0, blockSize: 2 });
    await ref.applyBatch(before);
    await ref.flush();
    // (block keys: channel, partition 0 of vbuckets, block 1)
    const compensated = ['ci:b/b\u00000000' + (1).toString(16).padStart(14, '0'), 'ci:d/0005s'];
    const without = (m: Map<string, string>) => new Map([...m].filter(([k]) => !compensated.includes(k)));
    // (a rolled-back document's body is not known until it is streamed again)
    const got = await dumpIndex(store, 'ci:', { bodies: false });
    expect(without(got)).toEqual(without(await dumpIndex(fresh, 'ci:', { bodies: false })));
    expect([...got.keys()].filter((k) => compensated.includes(k))).toEqual(compensated);
    const b = await index.changes({ channels: ['b'] });
    expect(b.results.map((r) => [r.id, r.seq.seqno, r.removed ?? 'active'])).toEqual([
      ['q', 2, ['b']],
      ['p', 3, 'active'],
    ]);
    expect(index.stableClock().get(5)).toBe(3);
    expect((await index.getMetaData(5)).lastSeq).toBe(3);
    // and the stream goes on from there on a new branch: q's removal from a comes from its seq-2
    // state, and s, streamed again in c only, leaves a (its ghost remembered a)
    const branch = [mut(5, 4, 'q', { channels: ['c'] }), mut(5, 5, 's', { channels: ['c'] })];
    await index.applyBatch(branch);
    await ref.applyBatch(branch);
    await index.flush();
    await ref.flush();
    // s went on from its ghost: it left a at 5 (so a's block and clock have that entry more, and
    // its record remembers it); everything else is as in the reference
    const got2 = await dumpIndex(store, 'ci:', { bodies: false });
    const want2 = await dumpIndex(fresh, 'ci:', { bodies: false });
    const differs = [...compensated, `ci:b/a\u00000000${(2).toString(16).padStart(14, '0')}`, 'ci:v/a'];
    const rest = (m: Map<string, string>) => new Map([...m].filter(([k]) => !differs.includes(k)));
    expect(rest(got2)).toEqual(rest(want2));
    expect(got2.get('ci:v/a')).toBe('5:5,6:1');
    expect(want2.get('ci:v/a')).toBe('5:4,6:1');
    const a = await index.changes({ channels: ['a'] });
    expect(a.results.map((r) => [r.id, r.removed ?? 'active'])).toEqual([
      ['r', 'active'],
      ['p', ['a']],
      ['q', ['a']],
      ['s', ['a']],
    ]);
    await index.close();
    await ref.close();
  });

  it('batches built while a store write is in flight are written together, in order (group commit)', async () => {
    const mem = createMemoryStore();
    const writes: number[] = [];
    let release: (() => void) | undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    // The real memory store; its first write waits until the test lets it go.
    const store = gatedStore(mem, async (ops) => {
      writes.push(ops.length);
      if (writes.length === 1) await held;
    });
    const index = createChannelIndex({ store, maxBatch: 2, maxBatchDelayMs: 0 });
    // (both channels known before the write is held: a batch that must read a clock waits for it)
    await index.applyBatch([mut(1, 1, 'a', { channels: ['x'] }), mut(1, 2, 'b', { channels: ['x', 'y'] })]);
    await until(() => writes.length === 1, 5000, 'the first write');
    await index.applyBatch([
      mut(1, 3, 'c', { channels: ['x'] }),
      mut(1, 4, 'a', { channels: ['y'] }),
      mut(1, 5, 'd', { channels: ['x'] }),
      mut(1, 6, 'e', { channels: ['x'] }),
    ]);
    await until(() => index.stats().gauges.group_waiting === 2, 5000, 'two batches waiting');
    // nothing of them is visible before they are written
    expect((await index.changes({ channels: ['x'] })).results).toEqual([]);
    release!();
    await index.flush();
    expect(writes.length).toBe(2);
    expect(index.stats().counters.grouped_batches).toBe(1);
    expect(index.stats().gauges.group_waiting).toBe(0);
    const x = await index.changes({ channels: ['x'] });
    expect(x.results.map((r) => [r.id, r.seq.seqno, r.removed ?? 'active'])).toEqual([
      ['b', 2, 'active'],
      ['c', 3, 'active'],
      ['a', 4, ['x']],
      ['d', 5, 'active'],
      ['e', 6, 'active'],
    ]);
    // and the store holds what an index written one batch at a time holds
    const ref = createMemoryStore();
    const one = createChannelIndex({ store: ref, maxBatch: 2, maxBatchDelayMs: 0 });
    for (const m of [
      mut(1, 1, 'a', { channels: ['x'] }),
      mut(1, 2, 'b', { channels: ['x', 'y'] }),
      mut(1, 3, 'c', { channels: ['x'] }),
      mut(1, 4, 'a', { channels: ['y'] }),
      mut(1, 5, 'd', { channels: ['x'] }),
      mut(1, 6, 'e', { channels: ['x'] }),
    ]) {
      await one.applyBatch([m]);
      await one.flush();
    }
    expect(await dumpIndex(mem, 'ci:', { bodies: false })).toEqual(
      await dumpIndex(ref, 'ci:', { bodies: false }),
    );
    await index.close();
    await one.close();
  });

  it('grouped batches that extend the same chunks write each once and leave what one-batch writes leave', async () => {
    for (const seed of [3, 11, 29]) {
      const mem = createMemoryStore();
      const sizes: number[] = [];
      let gate: { open: Promise<void>; release: () => void } | undefined;
      // The real memory store behind a gate the test opens batch by batch: while one write is held,
      // the batches built meanwhile form a group.
      const store = gatedStore(mem, async (ops) => {
        sizes.push(ops.length);
        let release!: () => void;
        gate = { open: new Promise<void>((r) => (release = r)), release };
        await gate.open;
      });
      const muts = workload(600, 4, 6, seed);
      const index = createChannelIndex({ store, maxBatch: 10, maxBatchDelayMs: 0, blockSize: 16 });
      const applied = index.applyBatch(muts);
      // hold each write until the next group is full (16 batches) or nothing more comes
      let written = 0;
      while (written < sizes.length || index.stats().pending > 0 || index.stats().gauges.group_waiting) {
        await until(
          () =>
            sizes.length > written &&
            (index.stats().gauges.group_waiting === 16 || index.stats().pending === 0),
          5000,
          'a held write',
        );
        written = sizes.length;
        gate!.release();
        await until(
          () =>
            sizes.length > written || (index.stats().pending === 0 && !index.stats().gauges.group_waiting),
          5000,
          'the next write',
        );
      }
      await applied;
      await index.flush();
      expect(index.stats().counters.grouped_batches).toBeGreaterThan(0);
      expect(index.stats().counters.merged_puts).toBeGreaterThan(0);
      const ref = createMemoryStore();
      const one = createChannelIndex({ store: ref, maxBatch: 10, maxBatchDelayMs: 0, blockSize: 16 });
      await one.applyBatch(muts);
      await one.flush();
      expect(await dumpIndex(mem, 'ci:', { bodies: false })).toEqual(
        await dumpIndex(ref, 'ci:', { bodies: false }),
      );
      expect(await allChanges(index, ['ch0', 'ch1', 'ch2'])).toEqual(
        await allChanges(one, ['ch0', 'ch1', 'ch2']),
      );
      await index.close();
      await one.close();
    }
  });

  it('a backlog on a store that writes at once goes in held groups and leaves what one-batch writes leave', async () => {
    // The plain memory store commits before the next batch is built, so no write is ever in flight
    // for a group to form behind; under a backlog the group is held open instead. A rollback queued
    // behind the backlog reads the store (it must not wait on a held group), and so do batches with
    // a tiny record cache (every batch then lets the held group go before it reads).
    const muts = workload(900, 4, 6, 17);
    const [part1, part2] = [muts.slice(0, 500), muts.slice(500)];
    const rbVb = part1[499]!.vbucket;
    const rbSeq = part1.filter((m) => m.vbucket === rbVb).at(-5)!.seqno;
    const channels = Array.from({ length: 6 }, (_, i) => `ch${i}`);
    const run = async (backlog: boolean, docCacheSize?: number) => {
      const store = createMemoryStore();
      const index = createChannelIndex({
        store,
        maxBatch: 10,
        maxBatchDelayMs: 0,
        blockSize: 16,
        docCacheSize,
      });
      if (backlog) {
        await index.applyBatch(part1);
        const rolledBack = index.rollback(rbVb, rbSeq);
        await index.applyBatch(part2);
        await rolledBack;
      } else {
        for (const m of part1) await index.applyBatch([m]).then(() => index.flush());
        await index.rollback(rbVb, rbSeq);
        for (const m of part2) await index.applyBatch([m]).then(() => index.flush());
      }
      await index.flush();
      const c = index.stats().counters;
      const out = {
        dump: await dumpIndex(store, 'ci:', { bodies: false }),
        // (one page: how a paged feed splits depends on batch boundaries, what it holds does not)
        feed: (await index.changes({ channels, limit: 10_000 })).results.sort((x, y) =>
          x.id < y.id ? -1 : 1,
        ),
        held: c.held_groups ?? 0,
        grouped: c.grouped_batches ?? 0,
        merged: c.merged_puts ?? 0,
        rollbacks: c.rollbacks,
      };
      await index.close();
      return out;
    };
    const one = await run(false);
    expect([one.held, one.grouped, one.rollbacks]).toEqual([0, 0, 1]);
    for (const docCacheSize of [undefined, 3]) {
      const held = await run(true, docCacheSize);
      expect(held.held).toBeGreaterThan(0);
      if (docCacheSize === undefined) {
        expect(held.grouped).toBeGreaterThan(0);
        expect(held.merged).toBeGreaterThan(0);
      }
      expect(held.rollbacks).toBe(1);
      expect(held.dump).toEqual(one.dump);
      expect(held.feed).toEqual(one.feed);
    }
  });

  it('a backlog on a store that writes at once lets the event loop run while it is indexed', async () => {
    // The memory store never waits on I/O: without a yield, indexing 3,000 queued mutations would
    // run to the end before any timer, socket or request of the process got a turn. (Each document
    // costs 50 µs of channelsOf, so the backlog takes 150 ms on any machine: far past the 10 ms
    // after which the worker yields. A fast machine once indexed it all in under 10 ms.)
    const store = createMemoryStore();
    const index = createChannelIndex({
      store,
      maxBatch: 100,
      maxBatchDelayMs: 0,
      channelsOf: (_key, doc) => {
        const end = performance.now() + 0.05;
        while (performance.now() < end);
        return (doc as { channels: string[] }).channels;
      },
    });
    const muts = Array.from({ length: 3000 }, (_, i) =>
      mut(i % 8, Math.floor(i / 8) + 1, `d${i}`, { channels: ['a'] }),
    );
    let batchesWhenTimerRan = -1;
    setTimeout(() => {
      batchesWhenTimerRan = index.stats().counters.batches ?? 0;
    }, 0);
    await index.applyBatch(muts);
    await index.flush();
    expect(index.stats().counters.batches).toBe(30);
    expect(batchesWhenTimerRan).toBeGreaterThanOrEqual(0);
    expect(batchesWhenTimerRan).toBeLessThan(30);
    await index.close();
  });

  it('a held group is written after 100 ms at most, however slowly the batches behind it are built', async () => {
    // every batch of 10 holds one document whose channelsOf burns 15 ms: 16 batches take 240 ms
    const burn = (key: string) => {
      if (!key.endsWith('0')) return;
      const end = performance.now() + 15;
      while (performance.now() < end);
    };
    const index = createChannelIndex({
      store: createMemoryStore(),
      maxBatch: 10,
      maxBatchDelayMs: 0,
      channelsOf: (key, doc) => {
        burn(key);
        return (doc as { channels?: string[] } | undefined)?.channels;
      },
    });
    const muts = Array.from({ length: 400 }, (_, i) =>
      mut(i % 4, Math.floor(i / 4) + 1, `d${i}`, { channels: ['a'] }),
    );
    await index.applyBatch(muts);
    await index.flush();
    const c = index.stats().counters;
    expect(c.held_groups).toBeGreaterThan(0);
    expect(c.hold_timeouts).toBeGreaterThan(0);
    expect((await index.changes({ channels: ['a'], limit: 1000 })).results.length).toBe(400);
    await index.close();
  });

  it('a held group lets close() finish and a failed write fail the index; neither waits on the hold', async () => {
    const muts = workload(900, 4, 6, 23);
    // close() in the middle of a backlog: it writes what was queued and resolves
    {
      const store = createMemoryStore();
      const index = createChannelIndex({ store, maxBatch: 10, maxBatchDelayMs: 0, blockSize: 16 });
      const applied = index.applyBatch(muts).catch((err: unknown) => err);
      await until(() => (index.stats().counters.held_groups ?? 0) > 0, 5000, 'a held group');
      await index.close();
      expect(index.stats().pending).toBe(0);
      const err = await applied;
      // (the producer was either done or refused as closed, never left waiting)
      expect(err === undefined || (isTributaryError(err) && err.code === 'TRIB_CHANNEL_INDEX_CLOSED')).toBe(
        true,
      );
      // a writer opened on the store goes on from the batches the first one wrote
      const again = createChannelIndex({ store, maxBatch: 10, maxBatchDelayMs: 0, blockSize: 16 });
      await again.ready();
      const written = index.stats().counters.mutations! + index.stats().counters.deletions!;
      expect(written).toBeGreaterThan(0);
      let total = 0;
      for (const [, seq] of again.stableClock()) total += seq;
      expect(total).toBe(written);
      await again.close();
    }
    // a store write that fails for good while groups are held fails the index: flush rejects
    {
      const mem = createMemoryStore();
      let writes = 0;
      const store = gatedStore(mem, async () => {
        if (++writes === 3) throw new Error('disk gone');
      });
      const errors: unknown[] = [];
      const index = createChannelIndex({
        store,
        maxBatch: 10,
        maxBatchDelayMs: 0,
        blockSize: 16,
        onError: (e) => errors.push(e),
      });
      // (the producer is refused once the index failed, or was done before it)
      const applied = await index.applyBatch(muts).catch((err: unknown) => err);
      expect(
        applied === undefined || (isTributaryError(applied) && applied.code === 'TRIB_CHANNEL_INDEX_FAILED'),
      ).toBe(true);
      const flushed = await index.flush().catch((err: unknown) => err);
      expect(isTributaryError(flushed) && flushed.code).toBe('TRIB_CHANNEL_INDEX_FAILED');
      expect(writes).toBe(3);
      expect(index.stats().counters.held_groups).toBeGreaterThan(0);
      expect(errors.length).toBe(1);
      await index.close();
    }
  });

  it('a rollback truncates a channel the document left above the rollback point (found from its clock)', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 0, blockSize: 4 });
    await index.applyBatch([mut(3, 1, 'x', { channels: ['a'] })]);
    // x leaves a for b: its record keeps only b, the removal entry lives in a's block
    await index.applyBatch([mut(3, 2, 'x', { channels: ['b'] })]);
    await index.flush();
    const moved = await index.changes({ channels: ['a'] });
    expect(moved.results.map((r) => [r.id, r.seq.seqno, r.removed ?? 'active'])).toEqual([['x', 2, ['a']]]);
    await index.rollback(3, 1);
    const a = await index.changes({ channels: ['a'] });
    expect(a.results.map((r) => [r.id, r.seq.seqno, r.removed ?? 'active'])).toEqual([['x', 1, 'active']]);
    const dump = await dumpIndex(store, 'ci:', { bodies: false });
    expect(dump.get('ci:v/a')).toBe('3:1');
    // and b is told x left it at its restored seqno
    const b = await index.changes({ channels: ['b'] });
    expect(b.results.map((r) => [r.id, r.seq.seqno, r.removed ?? 'active'])).toEqual([['x', 1, ['b']]]);
    await index.close();
  });

  it('tells readers of a rollback: a waiter wakes, a since from before it resumes from the rollback point', async () => {
    const backend = createMemoryBackend();
    const index = createChannelIndex({
      store: createMemoryStore({ backend }),
      maxBatchDelayMs: 0,
      blockSize: 2,
    });
    const reader = createChannelIndex({
      store: createMemoryStore({ backend }),
      readOnly: true,
      pollIntervalMs: 10,
    });
    await index.applyBatch([
      mut(5, 1, 'p', { channels: ['a'] }),
      mut(5, 2, 'q', { channels: ['a'] }),
      mut(5, 3, 'x', { channels: ['a'] }),
      mut(5, 4, 'q', { channels: ['a'], v: 2 }),
      mut(5, 5, 'y', { channels: ['a'] }),
    ]);
    await index.flush();
    // both indexes' readers have seen everything (q at 4, y at 5)
    const seen = await index.changes({ channels: ['a'] });
    const seenRO = await reader.changes({ channels: ['a'] });
    expect(seen.results.map((r) => r.seq.seqno)).toEqual([1, 3, 4, 5]);
    expect(seenRO.lastSeq).toBe(seen.lastSeq);
    const w = index.waitForChanges({ channels: ['a'], since: seen.lastSeq, timeoutMs: 10_000 });
    const wRO = reader.waitForChanges({ channels: ['a'], since: seen.lastSeq, timeoutMs: 10_000 });
    await until(() => index.stats().waiters === 1 && reader.stats().waiters === 1);
    await index.rollback(5, 3);
    // woken by the rollback itself (nothing was written after it)
    expect(await w).toBe(true);
    expect(await wRO).toBe(true);
    for (const ix of [index, reader]) {
      const r = await ix.changes({ channels: ['a'], since: seen.lastSeq });
      // resumes below q's restored entry (2): q comes again with its restored rev
      expect(r.rolledBack).toBe(true);
      expect(r.results.map((e) => [e.id, e.seq.seqno])).toEqual([
        ['q', 2],
        ['x', 3],
      ]);
      // a since from after the rollback is not rewound again
      const again = await ix.changes({ channels: ['a'], since: r.lastSeq });
      expect(again.rolledBack).toBeUndefined();
      expect(again.results).toEqual([]);
      expect(await ix.waitForChanges({ channels: ['a'], since: r.lastSeq, timeoutMs: 20 })).toBe(false);
    }
    // the new branch reuses seqnos 4 and 5: a reader from before the rollback does not skip them
    await index.applyBatch([mut(5, 4, 'z', { channels: ['a'] }), mut(5, 5, 'q', { channels: ['a'], v: 3 })]);
    await index.flush();
    const after = await index.changes({ channels: ['a'], since: seen.lastSeq });
    expect(after.results.map((e) => [e.id, e.seq.seqno])).toEqual([
      ['x', 3],
      ['z', 4],
      ['q', 5],
    ]);
    // tokens carry the epoch; "0" still means the beginning
    expect(decodeSinceToken(after.lastSeq).epoch).toBe(1);
    expect((await index.changes({ channels: ['a'], since: '0' })).rolledBack).toBeUndefined();
    await index.close();
    await reader.close();
  });

  it('a since token taken between two rollbacks is rewound by the later one only', async () => {
    const index = createChannelIndex({ store: createMemoryStore(), maxBatchDelayMs: 0 });
    await index.applyBatch(
      [1, 2, 3].flatMap((s) => [
        mut(1, s, `a${s}`, { channels: ['c'] }),
        mut(2, s, `b${s}`, { channels: ['c'] }),
      ]),
    );
    await index.flush();
    await index.rollback(1, 2); // epoch 1
    const t1 = (await index.changes({ channels: ['c'] })).lastSeq;
    await index.applyBatch([mut(1, 3, 'a3x', { channels: ['c'] })]);
    await index.flush();
    const r1 = await index.changes({ channels: ['c'], since: t1 });
    expect(r1.results.map((e) => e.id)).toEqual(['a3x']);
    expect(decodeSinceToken(r1.lastSeq).epoch).toBe(1);
    await index.rollback(2, 2); // epoch 2: b3 goes, nothing above seqno 2 is left in vbucket 2
    // (the first rollback came before this token: a3x, written after it, must not come again)
    const r2 = await index.changes({ channels: ['c'], since: r1.lastSeq });
    expect(r2.rolledBack).toBe(true);
    expect(r2.results).toEqual([]);
    await index.close();
  });

  it('keeps datasource checkpoints with the entries, read back after a restart', async () => {
    const backend = createMemoryBackend();
    const a = createChannelIndex({ store: createMemoryStore({ backend }), maxBatchDelayMs: 0 });
    await a.dataUpdate(7, Buffer.from('k'), 10, {
      cas: 5n,
      flags: 0,
      expiry: 0,
      revSeqno: 3,
      datatype: 1,
      value: Buffer.from('{"channels":"z"}'),
    });
    await a.setMetaData(7, Buffer.from('failover-log'));
    await a.flush();
    await a.close();
    const b = createChannelIndex({ store: createMemoryStore({ backend }), maxBatchDelayMs: 0 });
    const meta = await b.getMetaData(7);
    expect(Buffer.from(meta.value!).toString()).toBe('failover-log');
    expect(meta.lastSeq).toBe(10);
    expect((await b.getMetaData(8)).lastSeq).toBe(0);
    const r = await b.changes({ channels: ['z'] });
    expect(r.results).toEqual([{ seq: { vbucket: 7, seqno: 10 }, id: 'k', rev: '3-0000000000000005' }]);
    await b.close();
  });

  it('wakes waiters on a write, times out, and releases an aborted waiter at once', async () => {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
    const since = (await index.changes({ channels: ['w'] })).lastSeq;
    const w = index.waitForChanges({ channels: ['w'], since, timeoutMs: 10_000 });
    const other = index.waitForChanges({ channels: ['other'], since, timeoutMs: 50 });
    await until(() => index.stats().waiters === 2);
    await index.applyBatch([mut(1, 1, 'd', { channels: 'w' })]);
    expect(await w).toBe(true);
    expect(await other).toBe(false);
    const ac = new AbortController();
    const aborted = index.waitForChanges({
      channels: ['w'],
      since: (await index.changes({ channels: ['w'] })).lastSeq,
      signal: ac.signal,
    });
    await until(() => index.stats().waiters === 1);
    ac.abort();
    await expect(aborted).rejects.toSatisfy((e) => isTributaryError(e, 'TRIB_ABORTED'));
    expect(index.stats().waiters).toBe(0);
    // already behind: resolves at once
    expect(await index.waitForChanges({ channels: ['w'], since: '0', timeoutMs: 10_000 })).toBe(true);
    await index.close();
  });

  it('times out waiters sharing a timeout length in order, and only those not woken first', async () => {
    const index = createChannelIndex({ store: createMemoryStore(), maxBatchDelayMs: 0 });
    const since = (await index.changes({ channels: ['x'] })).lastSeq;
    const began = performance.now();
    const at = (p: Promise<boolean>) => p.then((v) => ({ v, ms: performance.now() - began }));
    const xs = Array.from({ length: 50 }, () =>
      at(index.waitForChanges({ channels: ['x'], since, timeoutMs: 60 })),
    );
    const ys = Array.from({ length: 50 }, () =>
      at(index.waitForChanges({ channels: ['y'], since, timeoutMs: 60 })),
    );
    const longer = at(index.waitForChanges({ channels: ['y'], since, timeoutMs: 120 }));
    await index.applyBatch([mut(1, 1, 'd', { channels: 'x' })]);
    for (const r of await Promise.all(xs)) expect(r.v).toBe(true);
    for (const r of await Promise.all(ys)) {
      expect(r.v).toBe(false);
      expect(r.ms).toBeGreaterThanOrEqual(59);
    }
    expect((await longer).v).toBe(false);
    expect((await longer).ms).toBeGreaterThanOrEqual(119);
    expect(index.stats().waiters).toBe(0);
    // close settles whoever still waits (false), with no timer left behind
    const pending = index.waitForChanges({ channels: ['z'], since, timeoutMs: 600_000 });
    await index.close();
    expect(await pending).toBe(false);
  });

  it('a settled waiter leaves no abort listener and no timer behind, across many waits on one signal', async () => {
    // (a continuous feed waits again and again on its connection's one signal)
    const index = createChannelIndex({ store: createMemoryStore(), maxBatchDelayMs: 0 });
    const ac = new AbortController();
    let since = (await index.changes({ channels: ['q'] })).lastSeq;
    const before = activeTimers();
    for (let i = 1; i <= 20; i++) {
      const woken = index.waitForChanges({ channels: ['q'], since, timeoutMs: 600_000, signal: ac.signal });
      await until(() => index.stats().waiters === 1);
      await index.applyBatch([mut(1, i, `d${i}`, { channels: 'q' })]);
      expect(await woken).toBe(true);
      since = (await index.changes({ channels: ['q'], since })).lastSeq;
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(activeTimers()).toBe(before);
    await index.close();
  });

  it('a read-only index on another store instance sees writes (memory backend watch + polling)', async () => {
    const backend = createMemoryBackend();
    const writer = createChannelIndex({ store: createMemoryStore({ backend }), maxBatchDelayMs: 0 });
    const reader = createChannelIndex({ store: createMemoryStore({ backend }), readOnly: true });
    await writer.applyBatch([mut(0, 1, 'a', { channels: 'x' })]);
    await writer.flush();
    const r1 = await reader.changes({ channels: ['x'] });
    expect(r1.results.map((r) => r.id)).toEqual(['a']);
    const waiting = reader.waitForChanges({ channels: ['x'], since: r1.lastSeq, timeoutMs: 10_000 });
    await until(() => reader.stats().waiters === 1);
    await writer.applyBatch([mut(0, 2, 'b', { channels: 'x' })]);
    expect(await waiting).toBe(true);
    expect((await reader.changes({ channels: ['x'], since: r1.lastSeq })).results.map((r) => r.id)).toEqual([
      'b',
    ]);
    await expect(reader.applyBatch([mut(0, 3, 'c', {})])).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_READ_ONLY'),
    );
    await writer.close();
    await reader.close();
  });

  it('a read-only reader following its lastSeq batch after batch misses nothing (reads seek chunks by batch)', async () => {
    const backend = createMemoryBackend();
    const writer = createChannelIndex({
      store: createMemoryStore({ backend }),
      maxBatchDelayMs: 0,
      blockSize: 16,
    });
    const reader = createChannelIndex({ store: createMemoryStore({ backend }), readOnly: true });
    const muts = workload(1500, 8, 6, 5);
    const seen = new Map<string, ChangeEntry>();
    let since = '0';
    let at = 0;
    let n = 1;
    while (at < muts.length) {
      // a batch, flushed and also one still being written while the reader reads
      n = (n * 5 + 7) % 50;
      await writer.applyBatch(muts.slice(at, at + n + 1));
      if (n % 2 === 0) await writer.flush();
      at += n + 1;
      const r = await reader.changes({ channels: ['ch2', 'ch3'], since });
      for (const e of r.results) seen.set(e.id, e);
      since = r.lastSeq;
    }
    await writer.flush();
    const last = await reader.changes({ channels: ['ch2', 'ch3'], since });
    for (const e of last.results) seen.set(e.id, e);
    const whole = await reader.changes({ channels: ['ch2', 'ch3'] });
    expect(seen).toEqual(new Map(whole.results.map((e) => [e.id, e])));
    expect(last.lastSeq).toBe(whole.lastSeq);
    expect(reader.stats().counters.reads_from_batch).toBeGreaterThan(10);
    await writer.close();
    await reader.close();
  });

  it('a checkpoint writes the clocks of the channels its own batch is the first to touch', async () => {
    // One batch per mutation, each in a channel no batch touched before, past three checkpoints
    // (one every 64 batches): a checkpoint batch's new channel must reach `v/` then, or the next
    // checkpoint deletes the clock record that held it.
    const muts = Array.from({ length: 200 }, (_, i) =>
      mut(1 + (i % 4), 1 + Math.floor(i / 4), `d${i}`, { channels: [`n${i}`, 'all'] }),
    );
    const store = createMemoryStore();
    expect(await indexOneByOne(store, muts)).toBeGreaterThanOrEqual(3);
    // (and deletes the clock records it covers: the store keeps at most one interval's)
    let records = 0;
    for await (const _ of store.scan({ prefix: Buffer.from('ci:cl/') })) records++;
    expect(records).toBeGreaterThan(0);
    expect(records).toBeLessThanOrEqual(65);
    expect(await dumpIndex(store)).toEqual(await dumpWrittenAtOnce(muts));
  });

  it('a reopened writer builds on the checkpointed clock of a channel it writes again', async () => {
    // Channel a's clock is only in `v/` when the writer reopens (a checkpoint came after its last
    // entry); writing a again must extend that clock, not start it over, or the next checkpoint
    // writes a clock without vbuckets 1 and 2.
    const fill = (from: number) =>
      Array.from({ length: 70 }, (_, i) => mut(3, from + i, `b${from + i}`, { channels: ['b'] }));
    const first = [mut(1, 1, 'a1', { channels: ['a'] }), mut(2, 1, 'a2', { channels: ['a'] }), ...fill(1)];
    const second = [mut(4, 1, 'a4', { channels: ['a'] }), ...fill(71)];
    const store = createMemoryStore();
    for (const part of [first, second]) expect(await indexOneByOne(store, part)).toBeGreaterThanOrEqual(1);
    const got = await dumpIndex(store);
    expect(got.get('ci:v/a')).toBe('1:1,2:1,4:1');
    expect(got).toEqual(await dumpWrittenAtOnce([...first, ...second]));
  });

  it('a read-only reader follows the writer across clock-record checkpoints', async () => {
    const backend = createMemoryBackend();
    const writer = createChannelIndex({ store: createMemoryStore({ backend }), maxBatchDelayMs: 0 });
    const reader = createChannelIndex({
      store: createMemoryStore({ backend }),
      readOnly: true,
      pollIntervalMs: 5,
    });
    let since = (await reader.changes({ channels: ['c0'] })).lastSeq;
    // woken batch by batch, past two checkpoints (one every 64 batches)
    for (let i = 1; i <= 140; i++) {
      const w = reader.waitForChanges({ channels: ['c0'], since, timeoutMs: 10_000 });
      await until(() => reader.stats().waiters === 1);
      await writer.applyBatch([
        mut(1, i, `d${i}`, { channels: ['c0'] }),
        mut(2, i, `e${i}`, { channels: ['c1'] }),
      ]);
      expect(await w).toBe(true);
      const r = await reader.changes({ channels: ['c0'], since });
      expect(r.results.map((e) => e.id)).toEqual([`d${i}`]);
      since = r.lastSeq;
    }
    expect(writer.stats().counters.checkpoints).toBeGreaterThanOrEqual(2);
    // and one that was away while records were checkpointed and deleted reads it all back
    for (let i = 141; i <= 300; i++) await writer.applyBatch([mut(1, i, `d${i}`, { channels: ['c0'] })]);
    await writer.flush();
    const rest = await allChanges(reader, ['c0'], since, 1000);
    expect(rest.results.map((e) => e.id)).toEqual(Array.from({ length: 160 }, (_, j) => `d${141 + j}`));
    expect((await reader.changes({ channels: ['c1'] })).results.length).toBe(140);
    await writer.close();
    await reader.close();
  });

  it('a later writer or reader opened with another layout goes on with the stored one', async () => {
    const store = createMemoryStore();
    const muts = workload(400, 8, 5);
    const first = createChannelIndex({ store, maxBatchDelayMs: 0, blockSize: 4, vbucketsPerBlock: 2 });
    await first.applyBatch(muts.slice(0, 200));
    await first.close();
    // reopened with other values: the stored ones win, so the blocks written so far stay readable
    const second = createChannelIndex({ store, maxBatchDelayMs: 0, blockSize: 64, vbucketsPerBlock: 1024 });
    await second.applyBatch(muts.slice(200));
    await second.flush();
    const ref = createChannelIndex({
      store: createMemoryStore(),
      maxBatchDelayMs: 0,
      blockSize: 4,
      vbucketsPerBlock: 2,
    });
    await ref.applyBatch(muts);
    await ref.flush();
    expect(await dumpIndex(store)).toEqual(await dumpIndex(ref.store));
    for (const chans of [['ch1'], ['*']])
      expect(await second.changes({ channels: chans })).toEqual(await ref.changes({ channels: chans }));
    await second.close();
    await ref.close();
  });

  it('refuses an index written in the earlier block layout with a typed error', async () => {
    const store = createMemoryStore();
    // the state record as earlier versions wrote it: batch counter, stable clock, block size, and
    // no vbuckets-per-block field
    await store.batch([
      {
        type: 'put',
        key: Buffer.from('ci:s'),
        value: encodeClock(
          7,
          new Map([
            [3, 9],
            [0x10002, 100],
          ]),
        ),
      },
    ]);
    const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
    await expect(index.ready()).rejects.toMatchObject({ code: 'TRIB_CHANNEL_INDEX_OLD_LAYOUT' });
    await index.close();
    // an empty store, or one this version wrote, opens
    const fresh = createChannelIndex({ store: createMemoryStore(), maxBatchDelayMs: 0 });
    await fresh.applyBatch([mut(3, 1, 'a', { channels: ['x'] })]);
    await fresh.flush();
    const again = createChannelIndex({ store: fresh.store, maxBatchDelayMs: 0 });
    await expect(again.ready()).resolves.toBeUndefined();
    await again.close();
    await fresh.close();
  });

  it('refuses bad input with typed errors and work after close', async () => {
    const index = createChannelIndex({ store: createMemoryStore() });
    await expect(index.changes({ channels: ['a'], since: 'garbage' })).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_BAD_SINCE'),
    );
    await expect(index.changes({ channels: ['a\u0000b'] })).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_BAD_CHANNEL'),
    );
    await expect(index.changes({ channels: ['a'], limit: 0 })).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_INVALID_ARGUMENT'),
    );
    // waits refuse bad input as rejections too (never a throw from the call itself)
    const badWait = index.waitForChanges({ channels: ['a'], since: 'garbage' });
    await expect(badWait).rejects.toSatisfy((e) => isTributaryError(e, 'TRIB_CHANNEL_INDEX_BAD_SINCE'));
    await expect(index.waitForChanges({ channels: ['a\u0000b'] })).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_BAD_CHANNEL'),
    );
    expect(() => createChannelIndex({ store: createMemoryStore(), maxBatch: 0 })).toThrow(/maxBatch/);
    await index.close();
    await expect(index.waitForChanges({ channels: ['a'] })).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_CLOSED'),
    );
    await index.close();
    await expect(index.applyBatch([mut(0, 1, 'a', {})])).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_CLOSED'),
    );
    await expect(index.changes({ channels: ['a'] })).rejects.toSatisfy((e) =>
      isTributaryError(e, 'TRIB_CHANNEL_INDEX_CLOSED'),
    );
    expect(encodeSince(new Map())).toBe('0');
  });
});
