import { type ChannelIndex, createChannelIndex, type StreamMutation } from '@tributary/channel-index';
import type { BatchOp, Store } from '@tributary/core';
import { createMemoryStore } from '@tributary/store-memory';
// the index's own layout decoders: these helpers compare stores key by key
import { decodeClockUpdates } from '../src/internal/clock-log.js';
import { decodeClock } from '../src/internal/keys.js';
import { type BlockEntry, decodeEntries, encodeEntries } from '../src/internal/records.js';

export function mut(
  vbucket: number,
  seqno: number,
  key: string,
  body: unknown,
  kind: StreamMutation['kind'] = 'mutation',
): StreamMutation {
  return {
    vbucket,
    seqno,
    vbuuid: 1n,
    key: Buffer.from(key),
    value: kind === 'mutation' ? Buffer.from(JSON.stringify(body)) : Buffer.alloc(0),
    kind,
    cas: BigInt(seqno) * 1000n + BigInt(vbucket),
    flags: 0,
    expiry: 0,
  };
}

export const del = (vbucket: number, seqno: number, key: string) =>
  mut(vbucket, seqno, key, undefined, 'deletion');

/**
 * Every index key, without what depends on how mutations were split into batches: the batch
 * counter at the front of the state record and channel clocks, how blocks were split into chunks,
 * and when clock records were checkpointed (channel clocks are `v/` merged with the live records).
 */
export async function dumpIndex(
  store: Store,
  prefix = 'ci:',
  o: { bodies?: boolean } = {},
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const clocks = new Map<string, Map<number, number>>();
  const records: [number, Buffer][] = [];
  const blocks = new Map<string, BlockEntry[]>();
  let checkpoint = 0;
  for await (const { key, value } of store.scan({ prefix: Buffer.from(prefix) })) {
    const k = Buffer.from(key).toString('latin1');
    const rest = k.slice(prefix.length);
    let v = Buffer.from(value);
    if (rest === 's') {
      const c = decodeClock(v).clock;
      checkpoint = c.get(0x10000) ?? 0;
      c.delete(0x10000);
      c.delete(0x10001); // the rollback epoch
      c.delete(0x10002); // the block size
      c.delete(0x10003); // vbuckets per block
      out.set(k, sortedClock(c));
      continue;
    } else if (rest.startsWith('v/')) {
      clocks.set(k, decodeClock(v).clock);
      continue;
    } else if (rest.startsWith('cl/')) {
      records.push([Number.parseInt(rest.slice(3), 16), v]);
      continue;
    } else if (rest.startsWith('b/')) {
      // A block is the run of its chunks (key minus the 12-hex counter of the batch that started
      // each): how it was split into chunks, and in what order its vbuckets' entries were
      // interleaved, depends on the batches; what it holds does not.
      const block = k.slice(0, -12);
      let list = blocks.get(block);
      if (!list) blocks.set(block, (list = []));
      list.push(...decodeEntries(v));
      continue;
    } else if (rest.startsWith('d/') && o.bodies === false) v = v.subarray(0, docHeaderLength(v));
    else if (!rest.startsWith('d/')) continue;
    out.set(k, v.toString('hex'));
  }
  for (const [block, entries] of blocks) {
    entries.sort((x, y) => x.vb - y.vb || x.seq - y.seq || x.id.localeCompare(y.id));
    out.set(block, encodeEntries(entries).toString('hex'));
  }
  for (const [c, v] of records) {
    if (c <= checkpoint) continue;
    for (const [ch, pairs] of decodeClockUpdates(v)) {
      const k = `${prefix}v/${Buffer.from(ch).toString('latin1')}`;
      let clock = clocks.get(k);
      if (!clock) clocks.set(k, (clock = new Map()));
      for (const [vb, seq] of pairs) if (seq > (clock.get(vb) ?? 0)) clock.set(vb, seq);
    }
  }
  for (const [k, clock] of clocks) out.set(k, sortedClock(clock));
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sortedClock(c: Map<number, number>): string {
  return [...c]
    .filter(([, s]) => s > 0)
    .sort((x, y) => x[0] - y[0])
    .map(([vb, s]) => `${vb}:${s}`)
    .join(',');
}

/** A deterministic workload: docs moving between channels, deletions, re-creations. */
/** Indexes `muts` into `store`, one batch per mutation, and closes the index; returns its checkpoints. */
export async function indexOneByOne(store: Store, muts: readonly StreamMutation[]): Promise<number> {
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  for (const m of muts) {
    await index.applyBatch([m]);
    await index.flush();
  }
  const checkpoints = index.stats().counters.checkpoints ?? 0;
  await index.close();
  return checkpoints;
}

/** The dump of a fresh memory store into which `muts` were indexed in one go: what a rebuild gives. */
export async function dumpWrittenAtOnce(muts: readonly StreamMutation[]): Promise<Map<string, string>> {
  const store = createMemoryStore();
  const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
  await index.applyBatch(muts);
  await index.close();
  return dumpIndex(store);
}

export function workload(n: number, vbuckets = 8, channels = 20, seed = 7): StreamMutation[] {
  let s = seed;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const seqs = new Array(vbuckets).fill(0);
  const out: StreamMutation[] = [];
  for (let i = 0; i < n; i++) {
    const doc = Math.floor(rnd() * (n / 4 + 1));
    const key = `doc-${doc}`;
    let h = 0;
    for (const c of key) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    const vb = h % vbuckets;
    const seq = ++seqs[vb];
    if (rnd() < 0.1) out.push(del(vb, seq, key));
    else {
      const k = 1 + Math.floor(rnd() * 3);
      const chs = Array.from({ length: k }, () => `ch${Math.floor(rnd() * channels)}`);
      out.push(mut(vb, seq, key, { channels: chs, n: i }));
    }
  }
  return out;
}

/** Polls `f` until it returns true or the deadline passes (no sleeps standing in for sync). */
export async function until(
  f: () => boolean | Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function allChanges(index: ChannelIndex, channels: string[], since?: string, limit = 7) {
  const results = [];
  let s = since;
  for (let i = 0; i < 10_000; i++) {
    const r = await index.changes({ channels, since: s, limit });
    results.push(...r.results);
    if (r.lastSeq === s || r.results.length === 0) return { results, lastSeq: r.lastSeq };
    s = r.lastSeq;
  }
  throw new Error('did not converge');
}

/** Length of a document record without its body (layout in src/internal/records.ts). */
function docHeaderLength(b: Buffer): number {
  let o = 18 + b[13]!;
  const n = b.readUInt32BE(14);
  for (let i = 0; i < n; i++) o += 11 + b.readUInt16BE(o);
  return o;
}

/** `mem` with every batch written only once `before(ops)` resolves (a store write held in flight). */
export function gatedStore(mem: Store, before: (ops: readonly BatchOp[]) => Promise<void>): Store {
  return {
    name: 'gated-memory',
    get: (k) => mem.get(k),
    getMany: (ks) => mem.getMany(ks),
    scan: (o) => mem.scan(o),
    close: () => mem.close(),
    batch: async (ops: readonly BatchOp[]) => {
      await before(ops);
      return mem.batch(ops);
    },
  };
}

/** Timers alive in this process (a component that settles must leave none of its own behind). */
export const activeTimers = (): number =>
  process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
