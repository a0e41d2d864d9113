import type { Scenario } from '../scenario.js';
import { putScenario } from './store-support/kit.js';

/** postgres store: batched puts, 1000 keys of 100-byte values per batch, against the backend client written directly. */
export const scenario: Scenario = putScenario('postgres', 1000, true);
