import { afterAll, describe, expect, it } from 'vitest';
import { FAULTS } from '../support/faults.js';
import { RESULTS_PATH, recordFigures } from '../support/results.js';
import { runScenario } from '../support/scenario.js';

const peakRssBoundMb = Number(process.env.E2E_RSS_BOUND_MB ?? 600);

describe('faults: the pipeline recovers by itself and the end state holds', () => {
  afterAll(() => console.log(`[e2e] fault figures: ${RESULTS_PATH}`));
  // The slow receiver has a file (and so a process) of its own: its memory bound is absolute.
  for (const name of Object.keys(FAULTS).filter((n) => n !== 'slow-receiver')) {
    it(name, { timeout: 180_000 }, async () => {
      const r = await runScenario(await FAULTS[name]!());
      recordFigures({ ...r.figures });
      // Readers that lived through a rollback end right too (the index signals it to them).
      expect((r.staleReaderDiffs ?? []).flatMap((d) => d.diff)).toEqual([]);
      expect(r.rebuiltDiff).toEqual([]);
      expect(r.readerDiffs.flatMap((d) => d.diff)).toEqual([]);
      expect(r.figures.rssGrowthMb).toBeLessThan(peakRssBoundMb);
      expect(r.figures.faultsRecovered).toBeGreaterThan(0);
    });
  }
});
