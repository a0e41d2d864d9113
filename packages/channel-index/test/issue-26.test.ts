// Issue 26: the index's end-to-end latency (receiver call → visible) and the store's batch time
// are histograms in the exposition; counters exist at 0 before their first event.
import { createMetrics, toPrometheus } from '@tributary/metrics';
import { createMemoryStore } from '@tributary/store-memory';
import { describe, expect, it } from 'vitest';
import { createChannelIndex } from '../src/index.js';

const req = (ch: string) => ({
  cas: 1n,
  flags: 0,
  expiry: 0,
  revSeqno: 1,
  datatype: 1,
  value: Buffer.from(JSON.stringify({ channels: [ch] })),
});

describe('index metrics', () => {
  it('e2e latency counts every mutation once it is visible; store batches are timed', async () => {
    const metrics = createMetrics();
    const index = createChannelIndex({ store: createMemoryStore({ metrics }), metrics, maxBatchDelayMs: 0 });
    let text = await toPrometheus(metrics);
    // at 0 from the start (a first rollback is then a change Prometheus can see)
    expect(text).toContain('tributary_channel_index_rollbacks_total 0\n');
    expect(text).toContain('tributary_channel_index_e2e_latency_seconds_count 0\n');
    for (let i = 1; i <= 50; i++) await index.dataUpdate(i % 4, Buffer.from(`k${i}`), i, req('a'));
    await index.dataDelete(1, Buffer.from('k1'), 51, req('a'));
    const before = Date.now();
    await index.flush();
    // (flush resolves once the batches are committed: visible, so observed)
    const h = metrics.group('channel-index').histogram('e2e_latency_seconds').snapshot();
    expect(h.count).toBe(51);
    // in seconds: well under one here (in milliseconds it would be several)
    expect(h.max).toBeLessThan(Math.max(1, (Date.now() - before) / 1000));
    expect(h.min).toBeGreaterThanOrEqual(0);
    expect((await index.changes({ channels: ['a'] })).results.length).toBe(50);
    text = await toPrometheus(metrics);
    expect(text).toContain('tributary_channel_index_e2e_latency_seconds_count 51\n');
    expect(text).toMatch(/^tributary_channel_index_e2e_latency_seconds_bucket\{le="\+Inf"\} 51$/m);
    const batches = Number(/^tributary_store_batches_total\{store="memory"\} (\d+)$/m.exec(text)![1]);
    expect(batches).toBeGreaterThan(0);
    expect(text).toContain(`tributary_store_batch_seconds_count{store="memory"} ${batches}\n`);
    await index.close();
  });
});
