import { describe, expect, it } from 'vitest';
import { runScenario, type StoreKind } from '../support/scenario.js';

describe('whole pipeline: cluster → datasource → mutation stream → channel index → _changes', () => {
  for (const store of ['lmdb', 'redis', 'postgres'] as StoreKind[]) {
    it(`${store}: readers see exactly the final state; index equals one rebuilt from scratch`, {
      timeout: 120_000,
    }, async () => {
      const r = await runScenario({ name: `pipeline-${store}`, store });
      expect(r.readerDiffs.flatMap((d) => d.diff)).toEqual([]);
      expect(r.rebuiltDiff).toEqual([]);
      expect(r.figures.mutationsDelivered).toBeGreaterThan(0);
      expect(r.figures.load?.deletes).toBeGreaterThan(0);
      expect(r.figures.load?.expiring).toBeGreaterThan(0);
      expect(r.errors.indexer).toEqual([]);
    });
  }
});
