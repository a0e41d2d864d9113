// Soak: runs the fault scenarios in a loop for a set time and writes a report (not in CI).
//   npm run soak -w @tributary/e2e -- --minutes 10 [--only node-kill-restart,slow-receiver] [--out report.json]
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAULTS } from '../support/faults.js';
import { runScenario } from '../support/scenario.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    only: { type: 'string' },
    out: { type: 'string', default: join(tmpdir(), `tributary-soak-${Date.now()}.json`) },
  },
});
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) throw new Error('--minutes must be a positive number');
const names = values.only ? values.only.split(',') : Object.keys(FAULTS);
for (const n of names)
  if (!FAULTS[n]) throw new Error(`unknown scenario ${n} (known: ${Object.keys(FAULTS).join(', ')})`);

const deadline = Date.now() + minutes * 60_000;
const runs: Record<string, unknown>[] = [];
let round = 0;
while (Date.now() < deadline) {
  round++;
  for (const name of names) {
    if (Date.now() >= deadline) break;
    const t0 = Date.now();
    try {
      const r = await runScenario(await FAULTS[name]!());
      const ok = r.readerDiffs.every((d) => d.diff.length === 0) && r.rebuiltDiff.length === 0;
      runs.push({
        round,
        name,
        ok,
        ...r.figures,
        readerDiffs: r.readerDiffs.filter((d) => d.diff.length),
        rebuiltDiff: r.rebuiltDiff,
      });
      console.log(
        `round ${round} ${name}: ${ok ? 'ok' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    } catch (err) {
      runs.push({ round, name, ok: false, error: String(err), seconds: (Date.now() - t0) / 1000 });
      console.log(`round ${round} ${name}: ERROR ${String(err).slice(0, 300)}`);
    }
  }
}
const summary = Object.fromEntries(
  names.map((n) => {
    const rs = runs.filter((r) => r.name === n);
    return [n, { runs: rs.length, failures: rs.filter((r) => !r.ok).length }];
  }),
);
const report = { minutes, rounds: round, finishedAt: new Date().toISOString(), summary, runs };
writeFileSync(values.out!, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 2));
console.log(`report: ${values.out}`);
process.exit(runs.every((r) => r.ok) ? 0 : 1);
