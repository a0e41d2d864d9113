import type { Scenario } from '../scenario.js';
import { putScenario } from './store-support/kit.js';

/** memory store: batched puts, 1000 keys of 100-byte values per batch, against the a plain Map. */
export const scenario: Scenario = putScenario('memory', 1000, false);
