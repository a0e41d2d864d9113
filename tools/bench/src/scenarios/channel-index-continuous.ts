// Continuous feed throughput to one client: entries/s streamed over HTTP (feed=continuous from
// since=0 with a limit), against reading the same entries through the index API directly. Each
// run reads through a fresh read-only index on the same store, so no run is served from the
// previous run's caches.
import { createChangesServer, createChannelIndex, createUserStore } from '@tributary/channel-index';
import type { Store } from '@tributary/core';
import { createMemoryStore } from '@tributary/store-memory';
import { request } from 'undici';
import type { Scenario } from '../scenario.js';

interface State {
  store: Store;
  n: number;
}

const auth = `Basic ${Buffer.from('bench:pw').toString('base64')}`;

export const scenario: Scenario<State> = {
  name: 'channel-index.continuous.entries',
  issue: 9,
  unit: 'entries/s',
  async setup({ quick }) {
    const store = createMemoryStore();
    const index = createChannelIndex({ store, maxBatchDelayMs: 0 });
    const n = quick ? 5_000 : 100_000;
    const muts = Array.from({ length: n }, (_, i) => ({
      vbucket: i % 1024,
      seqno: Math.floor(i / 1024) + 1,
      vbuuid: 1n,
      key: Buffer.from(`doc-${i}`),
      value: Buffer.from('{"channels":["feed"],"v":1}'),
      kind: 'mutation' as const,
      cas: BigInt(i + 1),
      flags: 0,
      expiry: 0,
    }));
    await index.applyBatch(muts);
    await index.flush();
    await index.close();
    await createUserStore({ store, iterations: 1000 }).put('bench', { password: 'pw', channels: ['feed'] });
    return { store, n };
  },
  async subject(state) {
    const index = createChannelIndex({ store: state.store, readOnly: true });
    const users = createUserStore({ store: state.store, iterations: 1000 });
    const server = createChangesServer({ databases: { db: { index, users } }, pageSize: 1000 });
    const { url } = await server.listen();
    const t0 = process.hrtime.bigint();
    const res = await request(
      `${url}/db/_changes?feed=continuous&since=0&limit=${state.n}&filter=sync_gateway/bychannel&channels=feed`,
      {
        headers: { authorization: auth },
      },
    );
    let lines = 0;
    for await (const chunk of res.body) for (const b of chunk as Buffer) if (b === 10) lines++;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await server.close();
    await index.close();
    // n entry lines plus the final last_seq line
    if (lines !== state.n + 1) throw new Error(`expected ${state.n + 1} lines, got ${lines}`);
    return { ops: state.n, seconds };
  },
  async baseline(state) {
    const index = createChannelIndex({ store: state.store, readOnly: true });
    const t0 = process.hrtime.bigint();
    let since = '0';
    let got = 0;
    while (got < state.n) {
      const r = await index.changes({ channels: ['feed'], since, limit: 1000 });
      got += r.results.length;
      since = r.lastSeq;
      if (!r.results.length) break;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await index.close();
    return { ops: got, seconds };
  },
  async teardown(state) {
    await state.store.close();
  },
};
