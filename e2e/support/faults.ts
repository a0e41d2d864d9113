// The fault scenarios, shared by the vitest suite (e2e/faults) and the soak loop (e2e/soak).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChaosProxy } from '@tributary/chaos-proxy';
import { createPostgresStore } from '@tributary/store-postgres';
import { createRedisStore } from '@tributary/store-redis';
import { runLoad } from './load.js';
import { BUCKET, caughtUp, waitFor } from './pipeline.js';
import type { Run, ScenarioOptions } from './scenario.js';

const catchUp = (run: Run, timeoutMs = 60_000) =>
  waitFor('index to catch up', () => caughtUp(run.cluster, run.indexer.getMeta), { timeoutMs });

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

export interface RedisChild {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A redis-server of our own on another loopback port (append-only file in a temp dir, so a restart keeps the data). */
export async function startRedisChild(): Promise<RedisChild> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trib-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        dir,
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    );
    await waitFor(`redis-server on ${port}`, () => canConnect(port), { timeoutMs: 10_000 });
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    start,
    stop,
    cleanup: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Writes a few slices while `busy()` holds, so a topology change happens under load. */
async function loadWhile(run: Run, busy: Promise<unknown>, seed: number): Promise<void> {
  let done = false;
  busy
    .finally(() => {
      done = true;
    })
    .catch(() => {});
  await runLoad(run.cluster, { ops: 5_000, keys: 1000, seed, slice: 100, stop: () => done });
  await busy;
}

/** PostgreSQL behind a chaos proxy: the "restart" is every link reset and new ones refused for a while. */
async function pgBehindProxy() {
  const proxy = await startChaosProxy({ target: { host: '127.0.0.1', port: 5432 } });
  const { port } = proxy.address();
  const table = `e2e_pgrestart_${process.pid}_${Date.now().toString(36)}`;
  return {
    proxy,
    store: createPostgresStore({ connectionString: `postgres://root@127.0.0.1:${port}/test`, table }),
  };
}

export const FAULTS: Record<string, () => ScenarioOptions | Promise<ScenarioOptions>> = {
  'node-kill-restart': () => ({
    name: 'node-kill-restart',
    fault: async (run) => {
      await run.cluster.stopNode(1);
      await run.cluster.startNode(1);
      const t = Date.now();
      await catchUp(run);
      return [Date.now() - t];
    },
  }),
  'failover-rollback': () => ({
    name: 'failover-rollback',
    freshReadersAfterRecovery: true,
    nodes: 3,
    fault: async (run) => {
      const t = Date.now();
      await run.cluster.failover(2, { loseLast: 3 });
      await catchUp(run);
      if (run.indexer.rollbacks === 0)
        throw new Error('failover with lost mutations caused no rollback in the index');
      return [Date.now() - t];
    },
  }),
  'rebalance-under-load': () => ({
    name: 'rebalance-under-load',
    nodes: 3,
    fault: async (run) => {
      const t = Date.now();
      await loadWhile(run, run.cluster.rebalance({ nodes: [0, 1] }), 7);
      await loadWhile(run, run.cluster.rebalance({ nodes: [0, 1, 2] }), 8);
      await catchUp(run);
      return [Date.now() - t];
    },
  }),
  'mstream-reset-mid-batch': () => ({
    name: 'mstream-reset-mid-batch',
    mstreamProxy: true,
    fault: async (run) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        // Write a burst so frames are in flight, then reset the link under it.
        await runLoad(run.cluster, { ops: 2000, keys: 1000, seed: 100 + i });
        await waitFor('mutations in flight', () => run.producer.clientStats().inFlight > 0, {
          timeoutMs: 10_000,
          intervalMs: 1,
        }).catch(() => {});
        const before = run.producer.clientStats().reconnects;
        run.proxy!.reset();
        const t = Date.now();
        await waitFor('client reconnected', () => run.producer.clientStats().reconnects > before, {
          timeoutMs: 20_000,
        });
        await catchUp(run);
        times.push(Date.now() - t);
      }
      return times;
    },
  }),
  'datanode-blackhole': () => ({
    name: 'datanode-blackhole',
    dataNodeProxies: true,
    producer: { dsOptions: { streamingConfig: false, pingTimeoutMs: 500, noopIntervalSeconds: 0.5 } },
    fault: async (run) => {
      // Black-hole a link that is streaming (not one still bootstrapping).
      await waitFor('node 1 link streaming', () => run.nodeProxies!.proxies[1]!.stats.bytesDown > 20_000, {
        timeoutMs: 20_000,
      });
      const t = Date.now();
      const before = run.producer.errors.length;
      run.nodeProxies!.proxies[1]!.blackhole();
      // More writes while the link is dead; the datasource must notice by itself (no FIN, no RST).
      await runLoad(run.cluster, { ops: 2000, keys: 1000, seed: 77 });
      await waitFor(
        'the dead connection to be detected',
        () =>
          run.producer.errors
            .slice(before)
            .some((e) => /PING_TIMEOUT|CONNECTION_LOST/.test(String((e as { code?: string }).code))),
        { timeoutMs: 20_000 },
      ).catch((err) => {
        const codes = run.producer.errors.slice(before).map((e) => (e as { code?: string }).code);
        const px = run.nodeProxies!.proxies.map((p) => p.stats);
        const st = run.producer.ds.stats() as unknown as Record<string, unknown>;
        throw new Error(
          `${(err as Error).message}; errors ${codes.slice(0, 5)} ${run.producer.errors.slice(0, 2).map(String)}; proxies ${JSON.stringify(px)}; ping ${JSON.stringify(Object.fromEntries(Object.entries(st).filter(([k]) => k.startsWith('TotPing') || k.startsWith('TotWorker'))))}`,
        );
      });
      const detectedMs = Date.now() - t;
      console.log(
        `[datanode-blackhole] detected after ${detectedMs} ms by ${run.producer.errors
          .slice(before)
          .map((e) => (e as { code?: string }).code)
          .join(',')}`,
      );
      run.nodeProxies!.proxies[1]!.resume();
      await catchUp(run);
      return [Date.now() - t];
    },
  }),
  'slow-receiver': () => ({
    name: 'slow-receiver',
    // The load writes ~10k ops/s; the receiver applies 1,000 mutations/s (10× slower), with few
    // queued events and a small flow-control window so back-pressure must reach the cluster.
    ops: 8_000,
    keys: 8_000,
    indexer: { maxRate: 1_000, maxQueuedEvents: 64 },
    producer: { maxInFlight: 1024, dsOptions: { feedBufferSizeBytes: 64 * 1024 } },
  }),
  'postgres-restart': async () => {
    const pg = await pgBehindProxy();
    return {
      name: 'postgres-restart',
      openStore: () => ({ store: pg.store, cleanup: () => void pg.proxy.close() }),
      fault: async (run) => {
        pg.proxy.refuseNew();
        pg.proxy.reset();
        await runLoad(run.cluster, { ops: 2000, keys: 1000, seed: 56 });
        await waitFor('the store error to surface', () => run.indexer.errors.length > 0, {
          timeoutMs: 20_000,
        });
        pg.proxy.resume();
        const t = Date.now();
        try {
          await catchUp(run, 30_000);
        } catch (err) {
          const st = run.indexer.index.stats();
          throw new Error(
            `${(err as Error).message}; index ${st.failed ?? 'not failed'}; errors ${run.indexer.errors.slice(-1).map(String)}`,
          );
        }
        await run.indexer.index.flush();
        return [Date.now() - t];
      },
    };
  },
  'redis-restart': async () => {
    const redis = await startRedisChild();
    return {
      name: 'redis-restart',
      openStore: () => ({
        store: createRedisStore({ url: `redis://127.0.0.1:${redis.port}`, prefix: 'e2e:' }),
        cleanup: () => void redis.cleanup(),
      }),
      fault: async (run) => {
        const step = (m: string) => process.env.E2E_DEBUG && console.log(`[redis-restart] ${m}`);
        step('stopping redis');
        await redis.stop();
        step('stopped');
        // Writes keep arriving while the store is down: they must wait, not vanish.
        await runLoad(run.cluster, { ops: 2000, keys: 1000, seed: 55 });
        step('load done');
        await waitFor('the store error to surface', () => run.indexer.errors.length > 0, {
          timeoutMs: 20_000,
        });
        step('error surfaced');
        await redis.start();
        step('restarted');
        const t = Date.now();
        try {
          await catchUp(run, 30_000);
        } catch (err) {
          const st = run.indexer.index.stats();
          const e = new Error(
            `${(err as Error).message}; index ${st.failed ?? 'not failed'}; pending ${st.pending}; errors ${run.indexer.errors.slice(-2).map(String).join(' | ')}`,
          );
          console.log(`[redis-restart] ${e.message}`);
          throw e;
        }
        await run.indexer.index.flush();
        return [Date.now() - t];
      },
    };
  },
};

export { BUCKET };
