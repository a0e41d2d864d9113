// Decode throughput of a DCP_MUTATION stream with 4 KiB values, 64 KiB chunks (issue 3).
// Same subject/baseline/peer as codec-decode-mutation-100b.
import type { Scenario } from '../scenario.js';
import { makeDecodeScenario } from './codec-decode-mutation-100b.js';

export const scenario: Scenario = makeDecodeScenario('codec.decode.mutation-4k', 4096, false, 40);
