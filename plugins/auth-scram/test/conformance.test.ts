import { runAuthConformance } from '@tributary/core/conformance';
import { createScramProvider } from '../src/index.js';

runAuthConformance('scram', {
  create: async () => createScramProvider(),
  createWithNonce: async (nonce) => createScramProvider({ nonce }),
});
