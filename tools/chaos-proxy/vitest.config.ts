import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared';

export default defineProject({
  ...sourceConditions,
  test: { name: 'chaos-proxy', include: ['test/**/*.test.ts'] },
});
