import { defineConfig } from 'vitest/config';

// .ci/run sets TRIBUTARY_TEST_REPORT: vitest's JSON report there, beside the usual output, for
// its closing "N passed, N failed" line (the README test line itself stays `npm ci && npm test`).
const report = process.env.TRIBUTARY_TEST_REPORT;

// One root command runs every project's suite; each project also runs alone (nx test <name>).
export default defineConfig({
  test: {
    projects: ['packages/*', 'plugins/*', 'tools/*', 'e2e'],
    // Two cores here: keep parallelism modest so socket-heavy suites don't starve each other.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
  },
});
