import type { Counter, MetricsGroup, MetricsRegistry } from '@tributary/metrics';
import type { StatName } from '../stats.js';
import type { VBucket } from './vbucket.js';

/**
 * What a data source shows Prometheus. cbdatasource's 120-odd `Tot*` counts stay its `stats()` API;
 * the exposition gets a few families with conventional names, read from those same counters when
 * scraped (no second increment on the hot path), plus per-vbucket lag and per-node state set by a
 * collector just before each scrape.
 */
const COUNTERS: [name: string, help: string, stat: StatName, labels?: Record<string, string>][] = [
  ['changes', 'DCP changes received, by kind', 'TotUPRDataChangeMutation', { kind: 'mutation' }],
  ['changes', 'DCP changes received, by kind', 'TotUPRDataChangeDeletion', { kind: 'deletion' }],
  ['changes', 'DCP changes received, by kind', 'TotUPRDataChangeExpiration', { kind: 'expiration' }],
  ['receiver_errors', 'Receiver calls that threw or rejected', 'TotUPRDataChangeErr'],
  ['snapshots', 'DCP snapshot markers received', 'TotUPRSnapshot'],
  ['stream_requests', 'DCP stream requests sent', 'TotUPRStreamReq'],
  ['stream_ends', 'DCP stream ends received', 'TotUPRStreamEnd'],
  ['rollbacks', 'Rollbacks the producer asked for', 'TotUPRStreamReqResRollbackStart'],
  ['connects', 'Connections made to data nodes', 'TotWorkerConnectOk'],
  ['connect_errors', 'Failed connection attempts to data nodes', 'TotWorkerConnectErr'],
  ['auth_errors', 'Failed authentications to data nodes', 'TotWorkerAuthErr'],
  ['bad_frames', 'Malformed frames from data nodes (each closed its connection)', 'TotWorkerBadFrame'],
  ['ping_timeouts', 'Connections closed for an unanswered NOOP', 'TotPingTimeout'],
  ['cluster_map_refreshes', 'Cluster map fetches', 'TotRefreshCluster'],
  ['cluster_map_errors', 'Cluster map fetches that failed', 'TotRefreshClusterConnectBucketErr'],
  ['kicks', 'Cluster map refreshes asked for (NOT_MY_VBUCKET, topology change, kick())', 'TotKick'],
  ['metadata_writes', 'vbucket metadata (checkpoint) writes to the receiver', 'TotSetVBucketMetaData'],
  ['acked_bytes', 'DCP flow-control bytes acknowledged', 'TotUPRBufferAckBytes'],
];

const STATES = ['', 'requested', 'running', 'closing'] as const;

export interface DataSourceView {
  vbucket(vb: number): VBucket | undefined;
  wantedVbuckets(): Iterable<number>;
  workers(): Iterable<{ server: string; ready: boolean; unacked: number }>;
}

/** Registers the families; returns what stops the collector and drops the per-vbucket series. */
export function exposeDataSource(
  metrics: MetricsRegistry,
  group: MetricsGroup,
  stats: Record<StatName, Counter>,
  view: DataSourceView,
): () => void {
  for (const [name, help, stat, labels] of COUNTERS) group.counterFrom(name, help, stats[stat], labels);
  group.describe({
    vbucket_lag_seqnos: "Seqnos behind the producer's high seqno, per vbucket",
    vbucket_lag_seconds:
      'How long the producer has had a seqno the receiver has not finished, per vbucket (0 when caught up)',
    vbuckets: 'vbuckets by stream state (idle, requested, running, closing)',
    node_connected: 'Whether the connection to each data node is up (1) or not (0)',
    unacked_bytes: 'DCP bytes received and not yet acknowledged (flow control)',
  });
  let vbSeries = new Set<number>();
  let nodeSeries = new Set<string>();
  const collect = () => {
    const now = performance.now();
    const byState = { '': 0, requested: 0, running: 0, closing: 0 };
    const seen = new Set<number>();
    for (const vb of view.wantedVbuckets()) {
      const v = view.vbucket(vb);
      if (!v) continue;
      seen.add(vb);
      const labels = { vbucket: String(vb) };
      group.gauge('vbucket_lag_seqnos', undefined, labels).set(Math.max(0, v.highSeqno - v.lastSeq));
      group.gauge('vbucket_lag_seconds', undefined, labels).set(v.lagSeconds(now));
      byState[v.state]++;
    }
    for (const vb of vbSeries) if (!seen.has(vb)) dropVb(vb);
    vbSeries = seen;
    for (const st of STATES) group.gauge('vbuckets', undefined, { state: st || 'idle' }).set(byState[st]);
    const nodes = new Set<string>();
    let unacked = 0;
    for (const w of view.workers()) {
      nodes.add(w.server);
      group.gauge('node_connected', undefined, { node: w.server }).set(w.ready ? 1 : 0);
      unacked += w.unacked;
    }
    for (const n of nodeSeries) if (!nodes.has(n)) group.remove('node_connected', { node: n });
    nodeSeries = nodes;
    group.gauge('unacked_bytes').set(unacked);
  };
  const dropVb = (vb: number) => {
    group.remove('vbucket_lag_seqnos', { vbucket: String(vb) });
    group.remove('vbucket_lag_seconds', { vbucket: String(vb) });
  };
  const stop = metrics.onCollect(collect);
  return () => {
    stop();
    for (const vb of vbSeries) dropVb(vb);
    for (const n of nodeSeries) group.remove('node_connected', { node: n });
    for (const st of STATES) group.remove('vbuckets', { state: st || 'idle' });
    group.remove('unacked_bytes');
    vbSeries = new Set();
    nodeSeries = new Set();
  };
}
