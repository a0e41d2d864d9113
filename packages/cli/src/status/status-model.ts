import type { ChannelIndex } from '@tributary/channel-index';
import type { Store } from '@tributary/core';
import type { BucketDataSource } from '@tributary/datasource';
import { bucketQuantile, type Histogram, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import { type ErrorGroup, ErrorLog } from './error-log.js';
import { PipelineLag } from './pipeline-lag.js';
import { ProcessStalls } from './process-stalls.js';

export type VerdictState = 'healthy' | 'catching up' | 'degraded' | 'down';

export interface NodeStatus {
  node: string;
  connected: boolean;
  /** vbuckets the cluster map puts on it. */
  vbuckets: number;
  /** ... of which streaming now. */
  streaming: number;
  lag: number;
  lagSeconds: number;
  /** Seqnos received from it per second, and made visible in the index per second (last tick). */
  inRate: number;
  indexedRate: number;
}

export interface VBucketStatus {
  vbucket: number;
  state: string;
  node: string;
  high: number;
  indexed: number;
  lag: number;
  lagSeconds: number;
}

export interface StatusSnapshot {
  title: string;
  bucket: string;
  /** Epoch ms of the tick the numbers are from. */
  at: number;
  verdict: { state: VerdictState; reasons: string[] };
  /** Σ the producer's high seqnos: every change the cluster has written. */
  written: number;
  /** Σ the index's stable clock: every change visible in `_changes`. */
  indexed: number;
  /** written − indexed: written and not yet visible. */
  lag: number;
  /** How long the oldest change not yet visible has waited (max over vbuckets). */
  lagSeconds: number;
  /** DCP changes the data source received. */
  received: number;
  counters: { mutations: number; deletions: number; entries: number; rollbacks: number };
  /** Per second over the last tick: changes received, and mutations+deletions indexed. */
  rates: { in: number; indexed: number };
  /** End-to-end latency (receiver call → visible) since start, from the exposition's buckets. */
  latency: { p50: number; p99: number; count: number };
  history: {
    times: number[];
    in: number[];
    indexed: number[];
    lag: number[];
    p50: number[];
    p99: number[];
    /** The longest event-loop delay in each second, and GC pauses summed (ms): what a dip-and-spike in the rates was. */
    loopMax: number[];
    gc: number[];
    nodeLag: Record<string, number[]>;
  };
  nodes: NodeStatus[];
  vbuckets: VBucketStatus[];
  streams: Record<string, number>;
  errorCount: number;
  errors: ErrorGroup[];
}

export interface StatusModelOptions {
  title: string;
  /** The `bucket` label of the tributary_pipeline_* families (default ''). */
  bucket?: string;
  index: ChannelIndex;
  dataSource: BucketDataSource;
  metrics: MetricsRegistry;
  /** Checked by /healthz (a read with a 2 s deadline). */
  store?: Store;
  /** The producer's high seqnos, when known exactly (the demo's embedded cluster); else the data source's. */
  producerHighSeqnos?: () => readonly number[];
  /** /readyz and the verdict call a pipeline further behind than this "catching up" (default 10 s). */
  readyMaxLagSeconds?: number;
}

export interface CheckResult {
  ok: boolean;
  status: number;
  body: { status: string; checks: Record<string, Record<string, unknown> & { ok: boolean }> };
}

const HISTORY = 300;

/**
 * What the status page, /status.json, /healthz and /readyz say, sampled once a second from the
 * data source, the index and the metrics registry. The pipeline's own numbers (lag against the
 * index's stable clock, the verdict) are exposed as `tributary_pipeline_*` so the page and
 * /metrics agree.
 */
export class StatusModel {
  readonly errors = new ErrorLog();
  readonly #o: StatusModelOptions;
  readonly #lag = new PipelineLag();
  readonly #e2e: Histogram;
  readonly #g: MetricsGroup;
  readonly #maxLag: number;
  readonly #startedAt = Date.now();
  #last: StatusSnapshot | undefined;
  #prev:
    | {
        at: number;
        received: number;
        indexedCount: number;
        e2e: readonly number[];
        perVb: Map<number, [number, number]>;
      }
    | undefined;
  readonly #history: StatusSnapshot['history'] = {
    times: [],
    in: [],
    indexed: [],
    lag: [],
    p50: [],
    p99: [],
    loopMax: [],
    gc: [],
    nodeLag: {},
  };
  readonly #stalls = new ProcessStalls();
  readonly #stopCollect: () => void;
  #nodeSeries = new Set<string>();

  constructor(o: StatusModelOptions) {
    this.#o = o;
    this.#maxLag = o.readyMaxLagSeconds ?? 10;
    this.#e2e = o.metrics.group('channel-index').histogram('e2e_latency_seconds');
    const g = o.metrics.group('pipeline', { bucket: o.bucket ?? '' }).describe({
      high_seqnos: "Σ the producer's high seqnos: changes the cluster has written",
      indexed_seqnos: "Σ the index's stable clock: changes visible in _changes",
      lag_seqnos: 'Changes written and not yet visible in the index',
      lag_seconds: 'How long the oldest change not yet visible has waited (max over vbuckets)',
      node_lag_seqnos: 'Changes written and not yet visible, per data node',
      node_lag_seconds: 'How long the oldest change not yet visible has waited, per data node',
      errors: 'Errors the pipeline reported (data source, index, load)',
      verdict: 'The status page verdict: 1 for the current state (healthy, catching up, degraded, down)',
    });
    this.#g = g;
    // (every tributary_pipeline_* value is the latest tick's, the one the page shows)
    g.counterFrom(
      'errors',
      'Errors the pipeline reported (data source, index, load)',
      () => this.#last?.errorCount ?? 0,
    );
    g.gaugeFrom(
      'tick_timestamp_seconds',
      'When the tributary_pipeline_* numbers were taken (the status page shows the same tick)',
      () => (this.#last?.at ?? 0) / 1000,
    );
    this.#stopCollect = o.metrics.onCollect(() => this.#export());
  }

  noteError(err: unknown): void {
    this.errors.note(err);
  }

  /** The latest snapshot (taking the first one now if no tick has run). */
  snapshot(): StatusSnapshot {
    return this.#last ?? this.tick();
  }

  /** Samples everything once (the server calls it every second). */
  tick(): StatusSnapshot {
    const now = Date.now();
    const ds = this.#o.dataSource.stats();
    const idx = this.#o.index.stats();
    const stable = this.#o.index.stableClock();
    const producer = this.#o.producerHighSeqnos?.();
    const c = idx.counters;
    const received =
      ds.TotUPRDataChangeMutation + ds.TotUPRDataChangeDeletion + ds.TotUPRDataChangeExpiration;
    const indexedCount = (c.mutations ?? 0) + (c.deletions ?? 0);
    const dt = this.#prev ? Math.max(0.001, (now - this.#prev.at) / 1000) : 0;
    const perVb = new Map<number, [number, number]>();
    const vbuckets: VBucketStatus[] = [];
    const nodes = new Map<string, NodeStatus>();
    for (const w of ds.workers) {
      nodes.set(w.server, {
        node: w.server,
        connected: w.connected,
        vbuckets: 0,
        streaming: 0,
        lag: 0,
        lagSeconds: 0,
        inRate: 0,
        indexedRate: 0,
      });
    }
    const streams: Record<string, number> = {};
    let written = 0;
    let indexed = 0;
    let lagSeconds = 0;
    for (const v of ds.vbuckets) {
      const vis = stable.get(v.vbucket) ?? 0;
      const high = Math.max(producer?.[v.vbucket] ?? 0, v.highSeqno, v.lastSeq, vis);
      const lag = this.#lag.update(v.vbucket, high, vis, now);
      const secs = this.#lag.seconds(v.vbucket, now);
      written += high;
      indexed += vis;
      if (secs > lagSeconds) lagSeconds = secs;
      const state = v.state || 'idle';
      streams[state] = (streams[state] ?? 0) + 1;
      vbuckets.push({ vbucket: v.vbucket, state, node: v.node, high, indexed: vis, lag, lagSeconds: secs });
      perVb.set(v.vbucket, [v.lastSeq, vis]);
      const n = nodes.get(v.node);
      if (n) {
        n.vbuckets++;
        if (v.state === 'running') n.streaming++;
        n.lag += lag;
        if (secs > n.lagSeconds) n.lagSeconds = secs;
        const before = this.#prev?.perVb.get(v.vbucket);
        if (before && dt) {
          n.inRate += Math.max(0, v.lastSeq - before[0]) / dt;
          n.indexedRate += Math.max(0, vis - before[1]) / dt;
        }
      }
    }
    const e2e = this.#e2e.buckets();
    const window = this.#prev ? e2e.cumulative.map((x, i) => x - (this.#prev!.e2e[i] ?? 0)) : e2e.cumulative;
    const h = this.#history;
    const push = (arr: number[], v: number) => {
      arr.push(v);
      if (arr.length > HISTORY) arr.shift();
    };
    const rates = this.#prev
      ? {
          in: Math.max(0, received - this.#prev.received) / dt,
          indexed: Math.max(0, indexedCount - this.#prev.indexedCount) / dt,
        }
      : { in: 0, indexed: 0 };
    push(h.times, now);
    // (no rate before a second sample: a gap, not a 0 that draws a dip)
    push(h.in, this.#prev ? rates.in : Number.NaN);
    push(h.indexed, this.#prev ? rates.indexed : Number.NaN);
    push(h.lag, written - indexed);
    push(h.p50, bucketQuantile(0.5, e2e.bounds, window) * 1000);
    push(h.p99, bucketQuantile(0.99, e2e.bounds, window) * 1000);
    const stalls = this.#stalls.take();
    push(h.loopMax, this.#prev ? stalls.loopMaxMs : Number.NaN);
    push(h.gc, this.#prev ? stalls.gcMs : Number.NaN);
    for (const name of new Set([...Object.keys(h.nodeLag), ...nodes.keys()])) {
      const arr = (h.nodeLag[name] ??= new Array<number>(h.times.length - 1).fill(Number.NaN));
      push(arr, nodes.get(name)?.lag ?? Number.NaN);
      if (arr.every((v) => !Number.isFinite(v))) delete h.nodeLag[name];
    }
    this.#prev = { at: now, received, indexedCount, e2e: e2e.cumulative, perVb };
    const snap: StatusSnapshot = {
      title: this.#o.title,
      bucket: this.#o.bucket ?? '',
      at: now,
      verdict: { state: 'healthy', reasons: [] },
      written,
      indexed,
      lag: written - indexed,
      lagSeconds,
      received,
      counters: {
        mutations: c.mutations ?? 0,
        deletions: c.deletions ?? 0,
        entries: c.entries ?? 0,
        rollbacks: c.rollbacks ?? 0,
      },
      rates,
      latency: {
        p50: bucketQuantile(0.5, e2e.bounds, e2e.cumulative),
        p99: bucketQuantile(0.99, e2e.bounds, e2e.cumulative),
        count: e2e.count,
      },
      history: {
        times: [...h.times],
        in: [...h.in],
        indexed: [...h.indexed],
        lag: [...h.lag],
        p50: [...h.p50],
        p99: [...h.p99],
        loopMax: [...h.loopMax],
        gc: [...h.gc],
        nodeLag: Object.fromEntries(Object.entries(h.nodeLag).map(([k, v]) => [k, [...v]])),
      },
      nodes: [...nodes.values()].sort((a, b) => (a.node < b.node ? -1 : 1)),
      vbuckets,
      streams,
      errorCount: this.errors.total,
      errors: this.errors.groups(),
    };
    snap.verdict = this.#verdict(snap, idx.failed, now);
    this.#last = snap;
    return snap;
  }

  #verdict(s: StatusSnapshot, failed: string | undefined, now: number): StatusSnapshot['verdict'] {
    const down: string[] = [];
    const degraded: string[] = [];
    const behind: string[] = [];
    if (failed) down.push(`the index failed and stopped writing: ${failed}`);
    const connected = s.nodes.filter((n) => n.connected);
    if (s.nodes.length === 0) down.push('no cluster map yet: not connected to the cluster');
    else if (connected.length === 0)
      down.push(`no data node connected (${s.nodes.length} in the cluster map)`);
    else {
      for (const n of s.nodes) {
        if (!n.connected)
          degraded.push(
            `node ${n.node} disconnected: ${n.vbuckets} vbuckets not streaming, ${n.lag} changes waiting`,
          );
      }
      const idle = s.vbuckets.filter(
        (v) => v.state !== 'running' && s.nodes.find((n) => n.node === v.node)?.connected,
      );
      if (idle.length) degraded.push(`${idle.length} vbuckets on connected nodes not streaming`);
    }
    const recent = this.errors.recent(now - 60_000);
    if (recent) degraded.push(`${recent} kind${recent > 1 ? 's' : ''} of error in the last minute`);
    if (s.lagSeconds > this.#maxLag)
      behind.push(
        `${s.lag} changes behind, the oldest waiting ${s.lagSeconds.toFixed(1)} s (over ${this.#maxLag} s)`,
      );
    if (down.length) return { state: 'down', reasons: [...down, ...degraded, ...behind] };
    if (degraded.length) return { state: 'degraded', reasons: [...degraded, ...behind] };
    if (behind.length) return { state: 'catching up', reasons: behind };
    return {
      state: 'healthy',
      reasons: [
        `${connected.length} of ${s.nodes.length} data node${s.nodes.length > 1 ? 's' : ''} connected, ${s.streams.running ?? 0} of ${s.vbuckets.length} vbuckets streaming`,
        `${s.lag} changes not yet visible, the oldest waiting ${s.lagSeconds.toFixed(1)} s (ready while under ${this.#maxLag} s)`,
      ],
    };
  }

  /** Sets the tributary_pipeline_* gauges from the latest tick (a collector: before each scrape). */
  #export(): void {
    const s = this.#last;
    if (!s) return;
    const g = this.#g;
    g.gauge('high_seqnos').set(s.written);
    g.gauge('indexed_seqnos').set(s.indexed);
    g.gauge('lag_seqnos').set(s.lag);
    g.gauge('lag_seconds').set(s.lagSeconds);
    for (const st of ['healthy', 'catching up', 'degraded', 'down'] as const)
      g.gauge('verdict', undefined, { state: st }).set(s.verdict.state === st ? 1 : 0);
    const seen = new Set<string>();
    for (const n of s.nodes) {
      seen.add(n.node);
      g.gauge('node_lag_seqnos', undefined, { node: n.node }).set(n.lag);
      g.gauge('node_lag_seconds', undefined, { node: n.node }).set(n.lagSeconds);
    }
    for (const n of this.#nodeSeries) {
      if (seen.has(n)) continue;
      g.remove('node_lag_seqnos', { node: n });
      g.remove('node_lag_seconds', { node: n });
    }
    this.#nodeSeries = seen;
  }

  /** /healthz: the process answers, the store answers a read within 2 s, the index has not failed. */
  async health(): Promise<CheckResult> {
    const checks: CheckResult['body']['checks'] = {
      process: { ok: true, uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000) },
    };
    const store = this.#o.store;
    if (store) {
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          store.get(Buffer.from('\u0000tributary-healthz')),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no answer within 2000 ms')), 2000);
          }),
        ]);
        checks.store = { ok: true, ms: +(performance.now() - t0).toFixed(2) };
      } catch (err) {
        checks.store = { ok: false, error: (err as Error)?.message ?? String(err) };
      } finally {
        clearTimeout(timer);
      }
    }
    const failed = this.#o.index.stats().failed;
    checks.index = failed ? { ok: false, error: failed } : { ok: true };
    const ok = Object.values(checks).every((c) => c.ok);
    return { ok, status: ok ? 200 : 503, body: { status: ok ? 'ok' : 'fail', checks } };
  }

  /** /readyz: every data node in the cluster map connected, and the lag under the threshold. */
  readiness(): CheckResult {
    const s = this.snapshot();
    const down = s.nodes.filter((n) => !n.connected).map((n) => n.node);
    const checks: CheckResult['body']['checks'] = {
      nodes: {
        ok: s.nodes.length > 0 && down.length === 0,
        connected: s.nodes.length - down.length,
        total: s.nodes.length,
        disconnected: down,
      },
      lag: {
        ok: s.lagSeconds <= this.#maxLag,
        seqnos: s.lag,
        seconds: +s.lagSeconds.toFixed(3),
        maxSeconds: this.#maxLag,
      },
      index: s.verdict.reasons.some((r) => r.startsWith('the index failed')) ? { ok: false } : { ok: true },
    };
    const ok = Object.values(checks).every((c) => c.ok);
    return { ok, status: ok ? 200 : 503, body: { status: ok ? 'ready' : 'not ready', checks } };
  }

  close(): void {
    this.#stopCollect();
    this.#stalls.close();
  }
}
