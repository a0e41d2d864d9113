import { createMetrics } from '@tributary/metrics';
import { Counter as PromCounter, Registry } from 'prom-client';
import type { Scenario } from '../scenario.js';

// Issue 2: "a counter increment must cost close to a plain property increment".
// Each runner increments N times in a loop and reads the value afterwards so the loop is not dead code.
const n = (quick: boolean) => (quick ? 2_000_000 : 20_000_000);
let sink = 0;

export const scenario: Scenario = {
  name: 'metrics.counter-inc',
  issue: 2,
  unit: 'inc/s',
  goal: { text: 'subject >= 0.5 x baseline', ratioAtLeast: 0.5 },
  setup: async () => {
    const registry = new Registry();
    return {
      counter: createMetrics().group('bench').counter('inc'),
      plain: { value: 0 },
      prom: new PromCounter({ name: 'bench_inc', help: 'bench', registers: [registry] }),
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
    'prom-client': async ({ prom }, { quick }) => {
      const count = n(quick) / 20; // far slower per call; fewer calls keep the run short
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) prom.inc();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      sink += count;
      return { ops: count, seconds };
    },
  },
  teardown: async () => {
    if (sink < 0) console.log(sink);
  },
};
