// Issue 26: per-vbucket lag in the exposition (seqnos and seconds behind the producer's high
// seqno), node state, changes by kind; the data source's Tot* counters stay in stats() only, and
// no random connection name is a label.
import { type Cluster, startCluster, vbucketOfKey } from '@tributary/cluster';
import { createMetrics, toPrometheus } from '@tributary/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

const USERS = { app: 'secret' };
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 1, vbuckets: 16, buckets: ['lagb'], users: USERS });
});
afterAll(async () => {
  await cluster?.close();
});

const sample = (text: string, name: string, labels: Record<string, string>) => {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && want.every((w) => l.slice(0, l.indexOf('}')).includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('data source lag in the exposition', () => {
  it('a held vbucket shows seqnos and seconds behind; released, both go to 0', {
    timeout: 60_000,
  }, async () => {
    const metrics = createMetrics();
    const r = new MirrorReceiver();
    const held = vbucketOfKey('hold-me', 16);
    let release!: () => void;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    r.delay = (vb) => (vb === held ? gate : undefined);
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'lagb',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { metrics, seqnoPollIntervalMs: 50, name: 'tributary:0123456789abcdef' },
    });
    await ds.start();
    const b = cluster.bucket('lagb');
    for (let i = 0; i < 5; i++) b.upsert('hold-me', `v${i}`);
    b.upsert('free', 'x');
    const behind = { bucket: 'lagb', vbucket: String(held) };
    await waitFor(() => ds.stats().vbuckets.find((v) => v.vbucket === held)?.lag === 5, 'the lag to show');
    // seconds grow while the receiver holds the vbucket
    let text = '';
    const first = await (async () => {
      text = await toPrometheus(metrics);
      return sample(text, 'tributary_datasource_vbucket_lag_seconds', behind)!;
    })();
    expect(sample(text, 'tributary_datasource_vbucket_lag_seqnos', behind)).toBe(5);
    await new Promise((res) => setTimeout(res, 300));
    text = await toPrometheus(metrics);
    expect(sample(text, 'tributary_datasource_vbucket_lag_seconds', behind)!).toBeGreaterThanOrEqual(
      first + 0.2,
    );
    expect(ds.stats().vbuckets.find((v) => v.vbucket === held)!.lagSeconds).toBeGreaterThan(0.2);
    expect(sample(text, 'tributary_datasource_node_connected', { bucket: 'lagb' })).toBe(1);
    expect(sample(text, 'tributary_datasource_vbuckets', { bucket: 'lagb', state: 'running' })).toBe(16);
    // cbdatasource's names are stats(), not the exposition; the connection name is no label
    expect(text).not.toContain('TotUPR');
    expect(text).not.toContain('0123456789abcdef');
    release();
    await waitFor(() => r.docs.get('hold-me')?.value === 'v4', 'the held changes');
    text = await toPrometheus(metrics);
    expect(sample(text, 'tributary_datasource_vbucket_lag_seqnos', behind)).toBe(0);
    expect(sample(text, 'tributary_datasource_vbucket_lag_seconds', behind)).toBe(0);
    expect(sample(text, 'tributary_datasource_changes_total', { bucket: 'lagb', kind: 'mutation' })).toBe(
      ds.stats().TotUPRDataChangeMutation,
    );
    await ds.close();
    // a closed data source leaves no per-vbucket series behind
    expect(await toPrometheus(metrics)).not.toContain('tributary_datasource_vbucket_lag_seqnos{');
  });
});
