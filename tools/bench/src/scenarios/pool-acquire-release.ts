import { createMemoryFactory, MemoryNamespace } from '@tributary/connection-memory';
import type { Connection, Listener } from '@tributary/core';
import { createPool, type Pool } from '@tributary/pool';
import * as genericPool from 'generic-pool';
import { Pool as TarnPool } from 'tarn';
import type { Measurement, Scenario } from '../scenario.js';

// Issue 4: acquire/release cycles per second, ours next to generic-pool and tarn on the same
// in-memory connection factory. `workers` callers loop acquire → release; with more workers than
// `max` connections they queue, which exercises the waiter path.
export interface PoolBenchState {
  listener: Listener;
  ours: Pool;
  generic: genericPool.Pool<Connection>;
  tarn: TarnPool<Connection>;
}

/** `fasterPeer`: the faster of generic-pool and tarn in this shape (measured), which the goal names. */
export function poolScenario(
  name: string,
  workers: number,
  max: number,
  fasterPeer: 'generic-pool' | 'tarn',
): Scenario<PoolBenchState> {
  const cycles = (quick: boolean) => (quick ? 20_000 : 200_000);

  async function run(
    quick: boolean,
    acquire: () => Promise<unknown>,
    release: (r: unknown) => void | Promise<void>,
  ): Promise<Measurement> {
    const total = cycles(quick);
    const each = Math.ceil(total / workers);
    let sink = 0;
    const worker = async () => {
      for (let i = 0; i < each; i++) {
        const r = await acquire();
        sink += r === undefined ? 0 : 1;
        await release(r);
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: workers }, worker));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (sink !== each * workers) throw new Error('lost a resource');
    return { ops: each * workers, seconds };
  }

  return {
    name,
    issue: 4,
    unit: 'cycles/s',
    goal: {
      text: `subject >= 1.0 x ${fasterPeer} (the faster peer here)`,
      ratioAtLeast: 1,
      peer: fasterPeer,
    },
    setup: async () => {
      const factory = createMemoryFactory({ namespace: new MemoryNamespace() });
      const listener = await factory.listen({ host: 'bench-pool', port: 0 }, (c) => c.resume());
      const endpoint = listener.address();
      const connect = () => factory.connect(endpoint);
      const ours = createPool({
        factory,
        endpoint,
        max,
        acquireTimeoutMs: 0,
        idleTimeoutMs: 0,
        maxWaiting: 100_000,
      });
      const generic = genericPool.createPool<Connection>(
        { create: connect, destroy: async (c) => void c.destroy() },
        { max, min: 0, maxWaitingClients: 100_000 },
      );
      const tarn = new TarnPool<Connection>({
        create: connect,
        destroy: (c) => void c.destroy(),
        min: 0,
        max,
        acquireTimeoutMillis: 60_000,
        idleTimeoutMillis: 600_000,
      });
      // Warm every pool to `max` open connections so only acquire/release is measured.
      const warm = async (acq: () => Promise<unknown>, rel: (r: unknown) => unknown) => {
        const rs = await Promise.all(Array.from({ length: max }, acq));
        for (const r of rs) await rel(r);
      };
      await warm(
        () => ours.acquire(),
        (g) => (g as { release(): void }).release(),
      );
      await warm(
        () => generic.acquire(),
        (c) => generic.release(c as Connection),
      );
      await warm(
        () => tarn.acquire().promise,
        (c) => tarn.release(c as Connection),
      );
      return { listener, ours, generic, tarn };
    },
    subject: ({ ours }, { quick }) =>
      run(
        quick,
        () => ours.acquire(),
        (g) => (g as { release(): void }).release(),
      ),
    peers: {
      'generic-pool': ({ generic }, { quick }) =>
        run(
          quick,
          () => generic.acquire(),
          (c) => generic.release(c as Connection),
        ),
      tarn: ({ tarn }, { quick }) =>
        run(
          quick,
          () => tarn.acquire().promise,
          (c) => void tarn.release(c as Connection),
        ),
    },
    teardown: async ({ listener, ours, generic, tarn }) => {
      await ours.close({ drain: false });
      await generic.drain();
      await generic.clear();
      await tarn.destroy();
      await listener.close();
    },
  };
}

export const scenario = poolScenario('pool.acquire-release', 1, 4, 'generic-pool');
