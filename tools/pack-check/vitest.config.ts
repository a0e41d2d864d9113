import { defineProject } from 'vitest/config';

export default defineProject({
  test: { setupFiles: ['../../vitest.fast-check.ts'], name: 'pack-check', include: ['test/**/*.test.ts'] },
});
