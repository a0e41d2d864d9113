import { defineConfig } from 'vitest/config';

// One root command runs every project's suite; each project also runs alone (nx test <name>).
export default defineConfig({
  test: {
    projects: ['packages/*', 'plugins/*', 'tools/*', 'e2e'],
    // Two cores here: keep parallelism modest so socket-heavy suites don't starve each other.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
