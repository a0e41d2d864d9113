import type { Scenario } from '../scenario.js';
import { scanScenario } from './store-support/kit.js';

/** memory store: rows per second of a full ordered scan, against the a plain Map. */
export const scenario: Scenario = scanScenario('memory', false);
