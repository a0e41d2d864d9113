import { runAuthConformance } from '@tributary/core/conformance';
import { createSecretProvider } from './secret-auth.js';

// The same kit every first-party auth provider passes; `secure`: its mechanism needs TLS.
runAuthConformance('secret', { create: async () => createSecretProvider(), secure: true });
