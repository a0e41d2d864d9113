import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

// Vitest passes ssr.resolve.conditions to the worker as `node --conditions`. With "import" among
// them, @fastify/websocket's require('ws') loads ws's ESM wrapper (no WebSocket.Server) and the
// plugin fails to start, so this project leaves "import" out (Vite adds it per import anyway).
const conditions = sourceConditions.ssr.resolve.conditions.filter((c) => c !== 'import');

export default defineProject({
  ...sourceConditions,
  ssr: { resolve: { ...sourceConditions.ssr.resolve, conditions } },
  test: {
    setupFiles: ['../../vitest.fast-check.ts'],
    name: 'channel-index',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
