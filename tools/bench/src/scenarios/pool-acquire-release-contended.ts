import type { Scenario } from '../scenario.js';
import { type PoolBenchState, poolScenario } from './pool-acquire-release.js';

// 16 callers share 4 connections: most acquires wait in the FIFO queue for a release.
export const scenario: Scenario<PoolBenchState> = poolScenario(
  'pool.acquire-release-contended',
  16,
  4,
  'tarn',
);
