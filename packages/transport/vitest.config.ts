import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Real sockets on a shared 2-core machine: give each test room, they finish far sooner.
  test: {
    setupFiles: ['../../vitest.fast-check.ts'],
    name: 'transport',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
