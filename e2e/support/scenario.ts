// One pipeline run (cluster → … → readers) with an optional fault in the middle, and its figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChaosProxy, startChaosProxy } from '@tributary/chaos-proxy';
import type { Cluster } from '@tributary/cluster';
import type { Store } from '@tributary/core';
import { createLmdbStore } from '@tributary/store-lmdb';
import { createPostgresStore } from '@tributary/store-postgres';
import { createRedisStore } from '@tributary/store-redis';
import { checkReaders, compareWithRebuilt } from './check.js';
import { expireAll, type LoadStats, runLoad } from './load.js';
import {
  caughtUp,
  type Indexer,
  type Producer,
  startIndexer,
  startProducer,
  startTestCluster,
  waitFor,
} from './pipeline.js';
import { type Reader, startReader } from './readers.js';
import { type ProxiedCluster, proxyDataNodes } from './rest-shim.js';

export type StoreKind = 'lmdb' | 'redis' | 'postgres';

export function openStore(kind: StoreKind, tag: string): { store: Store; cleanup: () => void } {
  const id = `${tag}_${process.pid}_${Date.now().toString(36)}`;
  if (kind === 'lmdb') {
    const dir = mkdtempSync(join(tmpdir(), 'trib-e2e-'));
    return {
      store: createLmdbStore({ path: join(dir, 'index.lmdb') }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (kind === 'redis')
    return {
      store: createRedisStore({
        url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        prefix: `e2e:${id}:`,
      }),
      cleanup: () => {},
    };
  return {
    store: createPostgresStore({
      connectionString: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
      table: `e2e_${id}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase(),
    }),
    cleanup: () => {},
  };
}

export interface Figures {
  scenario: string;
  mutationsSent: number;
  mutationsDelivered: number;
  duplicatesDropped: number;
  faultsRecovered: number;
  recoverMs: number[];
  peakRssMb: number;
  /**
   * Peak RSS minus RSS when the scenario started. Scenarios share a test process and RSS rarely
   * shrinks, so this, not peakRssMb, is what one scenario used (the slow receiver runs alone).
   */
  rssGrowthMb?: number;
  seconds: number;
  dcpFlowControlStalls?: number;
  /** The in-process load, when the scenario drives one (CLI loads report nothing here). */
  load?: LoadStats;
}

export interface Run {
  proxy?: ChaosProxy;
  nodeProxies?: ProxiedCluster;
  cluster: Cluster;
  indexer: Indexer;
  producer: Producer;
  readers: Reader[];
  peakRss: () => number;
}

export interface ScenarioOptions {
  name: string;
  store?: StoreKind;
  ops?: number;
  keys?: number;
  nodes?: number;
  /** Runs once mid-load (after half the ops); returns the recovery times it measured. */
  fault?: (run: Run) => Promise<number[]>;
  indexer?: { maxRate?: number; maxQueuedEvents?: number };
  producer?: { maxInFlight?: number; dsOptions?: Record<string, unknown> };
  cluster?: Record<string, unknown>;
  /** Put a chaos proxy on the mutation stream link (client → proxy → server). */
  mstreamProxy?: boolean;
  /** Put chaos proxies in front of the data nodes (datasource goes through a REST shim). */
  dataNodeProxies?: boolean;
  /**
   * Also start readers after recovery and check them, besides the long-lived ones (whose diff is
   * then reported in `staleReaderDiffs`): after a rollback both must end equal to the bucket.
   */
  freshReadersAfterRecovery?: boolean;
  /** Use this store instead of opening one of `store` kind. */
  openStore?: () => { store: Store; cleanup: () => void };
}

export interface ScenarioResult {
  figures: Figures;
  readerDiffs: { kind: string; channel: string; diff: string[] }[];
  staleReaderDiffs?: { kind: string; channel: string; diff: string[] }[];
  rebuiltDiff: string[];
  errors: { producer: unknown[]; indexer: unknown[] };
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const t0 = Date.now();
  const ops = o.ops ?? Number(process.env.E2E_OPS ?? 20_000);
  const keys = o.keys ?? Math.max(500, Math.floor(ops / 10));
  const cluster = await startTestCluster(o.nodes ?? 2, o.cluster);
  const { store, cleanup } = o.openStore
    ? o.openStore()
    : openStore(o.store ?? 'lmdb', o.name.replace(/\W/g, '_'));
  const startRss = process.memoryUsage().rss;
  let peak = startRss;
  const rssTimer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const indexer = await startIndexer({ store, ...o.indexer });
  const proxy = o.mstreamProxy ? await startChaosProxy({ target: indexer.endpoint }) : undefined;
  const nodeProxies = o.dataNodeProxies ? await proxyDataNodes(cluster) : undefined;
  const producer = await startProducer({
    serverUrls: [nodeProxies ? nodeProxies.url : cluster.managementUrl],
    endpoint: proxy ? proxy.address() : indexer.endpoint,
    getMeta: indexer.getMeta,
    ...o.producer,
  });
  const readers = [
    startReader('longpoll', () => indexer.url, 'a'),
    startReader('continuous', () => indexer.url, 'b'),
    startReader('websocket', () => indexer.url, 'c'),
  ];
  const run: Run = { proxy, nodeProxies, cluster, indexer, producer, readers, peakRss: () => peak };
  let recoverMs: number[] = [];
  try {
    let faulted = false;
    const load = await runLoad(cluster, {
      ops,
      keys,
      onSlice: async (done) => {
        if (o.fault && !faulted && done >= ops / 2) {
          faulted = true;
          recoverMs = await o.fault(run);
        }
      },
    });
    await expireAll(cluster, load);
    try {
      await waitFor('index to catch up with the cluster', () => caughtUp(cluster, run.indexer.getMeta), {
        timeoutMs: 60_000,
      });
    } catch (err) {
      const high = cluster.bucket('default').highSeqnos();
      const behind: string[] = [];
      for (let vb = 0; vb < high.length && behind.length < 5; vb++) {
        const m = await run.indexer.getMeta(vb);
        if (m.lastSeq < (high[vb] ?? 0)) behind.push(`vb${vb} ${m.lastSeq}<${high[vb]}`);
      }
      const st = run.producer.ds.stats() as unknown as Record<string, unknown>;
      throw new Error(
        `${(err as Error).message}; behind: ${behind.join(', ')}; sent ${run.producer.sent()}, server ${JSON.stringify(run.indexer.server.stats())}, client ${JSON.stringify(run.producer.clientStats())}; producer errors ${run.producer.errors.slice(0, 3).map(String).join(' | ')}; indexer errors ${run.indexer.errors.slice(0, 3).map(String).join(' | ')}; ds lagTotal ${st.lagTotal} TotUPRDataChange ${st.TotUPRDataChange}`,
      );
    }
    await run.indexer.index.flush();
    let readerDiffs = await checkReaders(
      cluster,
      keys,
      readers,
      o.freshReadersAfterRecovery ? 5_000 : undefined,
    );
    let staleReaderDiffs: typeof readerDiffs | undefined;
    if (o.freshReadersAfterRecovery) {
      staleReaderDiffs = readerDiffs;
      const fresh = [
        startReader('longpoll', () => run.indexer.url, 'a'),
        startReader('continuous', () => run.indexer.url, 'b'),
        startReader('websocket', () => run.indexer.url, 'c'),
      ];
      readers.push(...fresh); // closed with the others below
      readerDiffs = await checkReaders(cluster, keys, fresh);
    }
    const rebuiltDiff = await compareWithRebuilt(cluster, run.indexer.index);
    const s = run.indexer.server.stats();
    const figures: Figures = {
      scenario: o.name,
      mutationsSent: run.producer.sent(),
      mutationsDelivered: s.mutationsDelivered,
      duplicatesDropped: s.duplicates,
      faultsRecovered: recoverMs.length,
      recoverMs,
      peakRssMb: Math.round(peak / 1e6),
      rssGrowthMb: Math.round((peak - startRss) / 1e6),
      seconds: (Date.now() - t0) / 1000,
      load,
      dcpFlowControlStalls:
        (cluster.stats() as { counters: Record<string, number> }).counters.dcp_flow_control_stalls ?? -1,
    };
    console.log(`[e2e] ${JSON.stringify(figures)}`);
    return {
      figures,
      readerDiffs,
      staleReaderDiffs,
      rebuiltDiff,
      errors: { producer: run.producer.errors, indexer: run.indexer.errors },
    };
  } finally {
    clearInterval(rssTimer);
    // Bounded cleanup: a component that cannot close (e.g. a failed index) must not hang the suite.
    const bounded = (what: string, p: Promise<unknown>) =>
      Promise.race([
        p.catch(() => {}),
        new Promise((r) => setTimeout(r, 5000).unref()).then(() =>
          console.warn(`[e2e] ${what} did not close within 5 s`),
        ),
      ]);
    for (const r of readers) await bounded('reader', r.close());
    await bounded('producer', run.producer.close());
    await bounded('indexer', run.indexer.close());
    await bounded('proxy', proxy?.close() ?? Promise.resolve());
    await bounded('node proxies', nodeProxies?.close() ?? Promise.resolve());
    await bounded('store', store.close());
    await bounded('cluster', cluster.close());
    cleanup();
  }
}
