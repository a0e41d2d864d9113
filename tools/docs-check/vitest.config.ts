import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  // Examples run as child processes, two at a time (it.concurrent): the machine has two cores.
  test: {
    setupFiles: ['../../vitest.fast-check.ts'],
    name: 'docs-check',
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    maxConcurrency: 2,
  },
});
