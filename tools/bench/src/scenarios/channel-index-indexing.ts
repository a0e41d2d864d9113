// Channel index write throughput per store plugin: mutations/s through createChannelIndex with its
// default layout (documents in 1 to 3 of 1,000 channels, 1,024 vbuckets, 50,000 documents updated
// at random), in batches of 1,000 (the default) and, for memory and LMDB, of 10,000,
// against the store's ceiling: the same number of 100-byte documents written straight through
// the backend's own client, 1,000 a batch. Peer `minimal-layout` (index-support/minimal-layout.ts):
// the least work this layout asks of a batch, written plainly, into a store of its own of the same
// kind (so neither grows the other's): the floor of any implementation of the layout here.
// Both report the time collections took per mutation (`gcUsPerMutation`) and, on the memory
// store, the time of the store's own batch calls (`storeUsPerMutation`; index-support/cost-split.ts).
import { randomBytes } from 'node:crypto';
import { type ChannelIndex, createChannelIndex, type StreamMutation } from '@tributary/channel-index';
import { vbucketForKey } from '@tributary/codec';
import type { Scenario } from '../scenario.js';
import { CostSplit } from './index-support/cost-split.js';
import { MinimalLayout } from './index-support/minimal-layout.js';
import { openTarget, type Target, type TargetName } from './store-support/kit.js';

interface State {
  target: Target;
  index: ChannelIndex;
  minimal: MinimalLayout;
  minimalTarget: Target;
  costs: CostSplit;
  seqs: number[];
  docs: number;
}

const VBUCKETS = 1024;
const CHANNELS = 1000;

function mutations(state: State, n: number): StreamMutation[] {
  const out: StreamMutation[] = [];
  for (let i = 0; i < n; i++) {
    // A key always lives in one vbucket (Couchbase's CRC32 mapping), so an update finds the
    // document's earlier channels and writes removal entries for those it leaves.
    const key = `doc-${Math.floor(Math.random() * state.docs)}`;
    const vb = vbucketForKey(key, VBUCKETS);
    const seq = ++state.seqs[vb]!;
    const k = 1 + Math.floor(Math.random() * 3);
    const channels = Array.from({ length: k }, () => `ch${Math.floor(Math.random() * CHANNELS)}`);
    out.push({
      vbucket: vb,
      seqno: seq,
      vbuuid: 1n,
      key: Buffer.from(key),
      value: Buffer.from(JSON.stringify({ channels, pad: 'x'.repeat(40) })),
      kind: 'mutation',
      cas: BigInt(Date.now()) * 1000n + BigInt(i),
      flags: 0,
      expiry: 0,
    });
  }
  return out;
}

function indexingScenario(name: TargetName, full: number, goal?: number, maxBatch = 1000): Scenario<State> {
  return {
    // (the default batch size is the goal's row; a larger one shows what batching buys)
    name: `channel-index.indexing.${name}${maxBatch === 1000 ? '' : `.batch-${maxBatch / 1000}k`}`,
    issue: 9,
    unit: 'mutations/s',
    ...(goal ? { goal: { text: `>= ${goal.toLocaleString('en')} mutations/s`, absoluteAtLeast: goal } } : {}),
    async setup() {
      const target = await openTarget(name);
      const index = createChannelIndex({
        store: target.store,
        maxBatch,
        maxBatchDelayMs: 1,
        blockSize: 100,
      });
      const minimalTarget = await openTarget(name);
      const minimal = new MinimalLayout(minimalTarget.store, 100);
      const costs = new CostSplit();
      if (name === 'memory') {
        costs.timeBatches(target.store);
        costs.timeBatches(minimalTarget.store);
      }
      return {
        target,
        index,
        minimal,
        minimalTarget,
        costs,
        seqs: new Array(VBUCKETS).fill(0),
        docs: 50_000,
      };
    },
    async subject(state, { quick }) {
      const batch = mutations(state, quick ? 3_000 : full);
      await state.costs.start();
      const t0 = process.hrtime.bigint();
      await state.index.applyBatch(batch);
      await state.index.flush();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return { ops: batch.length, seconds, extra: await state.costs.end(batch.length, name === 'memory') };
    },
    peers: {
      async 'minimal-layout'(state, { quick }) {
        const batch = mutations(state, quick ? 3_000 : full);
        await state.costs.start();
        const t0 = process.hrtime.bigint();
        const puts = await state.minimal.write(batch, maxBatch);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const costs = await state.costs.end(batch.length, name === 'memory');
        return { ops: batch.length, seconds, extra: { putsPerMutation: puts / batch.length, ...costs } };
      },
    },
    async baseline(state, { quick }) {
      const n = quick ? 3_000 : full;
      const value = randomBytes(100);
      const entries: [Buffer, Buffer][] = Array.from({ length: n }, (_, i) => [
        Buffer.from(`base:${i}:${Math.random()}`),
        value,
      ]);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i += 1000) await state.target.direct.put(entries.slice(i, i + 1000));
      return { ops: n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
    },
    async teardown(state) {
      state.costs.close();
      await state.index.close();
      await state.target.close();
      await state.minimalTarget.close();
    },
  };
}

export const scenarios: Scenario[] = [
  indexingScenario('memory', 100_000, 200_000),
  indexingScenario('lmdb', 100_000, 100_000),
  indexingScenario('redis', 20_000),
  indexingScenario('postgres', 20_000),
  indexingScenario('memory', 100_000, undefined, 10_000),
  indexingScenario('lmdb', 100_000, undefined, 10_000),
];
