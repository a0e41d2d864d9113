// Soak: runs the fault scenarios in a loop for a set time and writes a report (not in CI; the
// suite runs one bounded round, soak.test.ts).
//   npm run soak -w @tributary/e2e -- --minutes 10 [--only node-kill-restart,slow-receiver] [--out report.json]
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runSoak } from './soak.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    only: { type: 'string' },
    out: { type: 'string', default: join(tmpdir(), `tributary-soak-${Date.now()}.json`) },
  },
});
const report = await runSoak({
  minutes: Number(values.minutes),
  only: values.only ? values.only.split(',') : undefined,
  onRun: (r) =>
    console.log(
      `round ${r.round} ${r.name}: ${r.error ? `ERROR ${r.error.slice(0, 300)}` : r.ok ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s`,
    ),
});
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report.summary, null, 2));
console.log(`report: ${values.out}`);
process.exit(report.runs.every((r) => r.ok) ? 0 : 1);
