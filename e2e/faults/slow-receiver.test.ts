import { expect, it } from 'vitest';
import { FAULTS } from '../support/faults.js';
import { recordFigures } from '../support/results.js';
import { runScenario } from '../support/scenario.js';

// Alone in its file, so in a fresh test process: the peak RSS is this scenario's own.
const peakRssBoundMb = Number(process.env.E2E_RSS_BOUND_MB ?? 600);

it('slow-receiver: the producer is slowed by flow control and memory stays under the bound', {
  timeout: 180_000,
}, async () => {
  const r = await runScenario(await FAULTS['slow-receiver']!());
  recordFigures({ ...r.figures });
  expect(r.rebuiltDiff).toEqual([]);
  expect(r.readerDiffs.flatMap((d) => d.diff)).toEqual([]);
  expect(r.figures.peakRssMb).toBeLessThan(peakRssBoundMb);
  expect(r.figures.dcpFlowControlStalls).toBeGreaterThan(0); // the producer was slowed
});
