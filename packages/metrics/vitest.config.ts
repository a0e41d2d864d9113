import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

export default defineProject({
  ...sourceConditions,
  test: { setupFiles: ['../../vitest.fast-check.ts'], name: 'metrics', include: ['test/**/*.test.ts'] },
});
