import type { Scenario } from '../scenario.js';
import { putScenario } from './store-support/kit.js';

/** redis store: batched puts, 1000 keys of 100-byte values per batch, against the backend client written directly. */
export const scenario: Scenario = putScenario('redis', 1000, true);
