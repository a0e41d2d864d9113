// Runs the store-* scenarios without the bench harness (alternating subject and baseline rounds,
// medians). Usage from the repo root:
//   node --conditions=@tributary/source --import tsx tools/bench/src/scenarios/store-support/run.ts [--quick] [--rounds=N] [filter]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunResult } from './kit.js';

interface AnyScenario {
  name: string;
  unit: string;
  goal?: { ratioAtLeast?: number };
  setup?: (o: { quick: boolean }) => Promise<unknown>;
  subject: (s: unknown, o: { quick: boolean }) => Promise<RunResult>;
  baseline: (s: unknown, o: { quick: boolean }) => Promise<RunResult>;
  teardown?: (s: unknown) => Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const filter = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? '';
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.slice(9)) : quick ? 3 : 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const files = fs
  .readdirSync(path.dirname(here))
  .filter((f) => f.startsWith('store-') && f.endsWith('.ts') && f.includes(filter))
  .sort();
for (const file of files) {
  const { scenario } = (await import(path.join(path.dirname(here), file))) as { scenario: AnyScenario };
  const state = await scenario.setup?.({ quick });
  const subject: number[] = [];
  const baseline: number[] = [];
  try {
    // one warm-up each, then alternate
    await scenario.subject(state, { quick });
    await scenario.baseline(state, { quick });
    for (let r = 0; r < rounds; r++) {
      const s = await scenario.subject(state, { quick });
      subject.push(s.ops / s.seconds);
      const b = await scenario.baseline(state, { quick });
      baseline.push(b.ops / b.seconds);
    }
  } finally {
    await scenario.teardown?.(state);
  }
  const ratio = median(subject) / median(baseline);
  const goal = scenario.goal?.ratioAtLeast;
  console.log(
    `${scenario.name.padEnd(32)} subject ${Math.round(median(subject)).toString().padStart(9)} ${scenario.unit}` +
      `  direct ${Math.round(median(baseline)).toString().padStart(9)}  ratio ${ratio.toFixed(2)}` +
      (goal ? (ratio >= goal ? '  (goal met)' : `  (goal ${goal} MISSED)`) : ''),
  );
}
