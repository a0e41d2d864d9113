import { createMetrics, SECONDS_BUCKETS } from '@tributary/metrics';
import { Histogram as PromHistogram, Registry } from 'prom-client';
import type { Scenario } from '../scenario.js';

// Issue 26: the index observes one end-to-end latency per mutation. Ours keeps two views (fine
// log-linear buckets for percentiles, `le` buckets for Prometheus); prom-client's keeps the `le`
// buckets only. Both with the same 18 bounds, values spread over them.
const n = (quick: boolean) => (quick ? 500_000 : 5_000_000);
const VALUES = Float64Array.from({ length: 4096 }, (_, i) => 0.0001 * 1.003 ** i); // 0.1 ms .. ~20 s
let sink = 0;

export const scenario: Scenario = {
  name: 'metrics.histogram-observe',
  issue: 26,
  unit: 'observations/s',
  goal: { text: 'subject >= 1.0 x prom-client', ratioAtLeast: 1, peer: 'prom-client' },
  setup: async () => {
    const registry = new Registry();
    return {
      ours: createMetrics().group('bench').histogram('latency_seconds', 'bench'),
      prom: new PromHistogram({
        name: 'bench_latency_seconds',
        help: 'bench',
        buckets: [...SECONDS_BUCKETS],
        registers: [registry],
      }),
    };
  },
  subject: async ({ ours }, { quick }) => {
    const count = n(quick);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) ours.observe(VALUES[i & 4095]!);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sink += ours.count;
    return { ops: count, seconds };
  },
  peers: {
    'prom-client': async ({ prom }, { quick }) => {
      const count = n(quick);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) prom.observe(VALUES[i & 4095]!);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      sink += count;
      return { ops: count, seconds };
    },
  },
  teardown: async () => {
    if (sink < 0) console.log(sink);
  },
};
