import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  test: {
    setupFiles: ['../../vitest.fast-check.ts'],
    name: 'test-setup',
    include: ['test/**/*.test.ts'],
  },
});
