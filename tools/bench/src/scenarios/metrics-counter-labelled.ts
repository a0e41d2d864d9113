import { createMetrics } from '@tributary/metrics';
import { Counter as PromCounter, Registry } from 'prom-client';
import type { Scenario } from '../scenario.js';

// Issue 26: "use prom-client itself unless a hot-path counter measures slower through it". A
// counter with labels (the data source's changes{bucket,kind}, a vbucket's gauge): ours is a
// child looked up once, then a property add; prom-client's inc(labels) hashes the labels on every
// call, and labels(...).inc() too (its child is a closure over inc(labels)).
const n = (quick: boolean) => (quick ? 2_000_000 : 20_000_000);
let sink = 0;

export const scenario: Scenario = {
  name: 'metrics.counter-inc-labelled',
  issue: 26,
  unit: 'inc/s',
  goal: {
    text: 'subject >= 1.0 x prom-client labels().inc()',
    ratioAtLeast: 1,
    peer: 'prom-client labels().inc()',
  },
  setup: async () => {
    const registry = new Registry();
    const prom = new PromCounter({
      name: 'bench_changes_total',
      help: 'bench',
      labelNames: ['bucket', 'kind'],
      registers: [registry],
    });
    return {
      counter: createMetrics()
        .group('bench', { bucket: 'b' })
        .counter('changes', 'bench', { kind: 'mutation' }),
      plain: { value: 0 },
      prom,
      child: prom.labels({ bucket: 'b', kind: 'mutation' }),
      labels: { bucket: 'b', kind: 'mutation' },
    };
  },
  subject: async ({ counter }, { quick }) => {
    const count = n(quick);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) counter.inc();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sink += counter.value;
    return { ops: count, seconds };
  },
  baseline: async ({ plain }, { quick }) => {
    const count = n(quick);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) plain.value++;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    sink += plain.value;
    return { ops: count, seconds };
  },
  peers: {
    'prom-client labels().inc()': async ({ child }, { quick }) => {
      const count = n(quick) / 20; // far slower per call; fewer calls keep the run short
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) child.inc();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      sink += count;
      return { ops: count, seconds };
    },
    'prom-client inc(labels)': async ({ prom, labels }, { quick }) => {
      const count = n(quick) / 20;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) prom.inc(labels);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      sink += count;
      return { ops: count, seconds };
    },
  },
  teardown: async () => {
    if (sink < 0) console.log(sink);
  },
};
