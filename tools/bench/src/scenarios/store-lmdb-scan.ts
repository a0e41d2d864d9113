import type { Scenario } from '../scenario.js';
import { scanScenario } from './store-support/kit.js';

/** lmdb store: rows per second of a full ordered scan, against the backend client written directly. */
export const scenario: Scenario = scanScenario('lmdb', true);
