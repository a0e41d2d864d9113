import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

// pg's CommonJS entry requires pg-pool, whose "import" export is an ES module wrapper: keep
// "import" out of the conditions that vitest also applies to require() calls.
const conditions = sourceConditions.resolve.conditions.filter((c) => c !== 'import');

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@tributary/source'] } },
  test: {
    setupFiles: ['../../vitest.fast-check.ts'],
    name: 'store-postgres',
    include: ['test/**/*.test.ts'],
  },
});
