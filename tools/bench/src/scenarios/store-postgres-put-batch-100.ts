import type { Scenario } from '../scenario.js';
import { putScenario } from './store-support/kit.js';

/** postgres store: batched puts, 100 keys of 100-byte values per batch, against the backend client written directly. */
export const scenario: Scenario = putScenario('postgres', 100, true);
