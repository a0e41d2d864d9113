import { runAuthConformance } from '@tributary/core/conformance';
import { createPlainProvider } from '../src/index.js';

runAuthConformance('plain (secure connection)', { create: async () => createPlainProvider(), secure: true });
runAuthConformance('plain (allowInsecurePlain on plain TCP)', {
  create: async () => createPlainProvider({ allowInsecurePlain: true }),
  secure: false,
});
