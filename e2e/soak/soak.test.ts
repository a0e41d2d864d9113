// Issue #22: e2e/soak had no test file, so running it as a test project failed ("no test files").
// One bounded round of the soak driver (SOAK_SCENARIOS=a,b and SOAK_ROUNDS=n widen it); the long
// runs stay on the command line (`npm run soak -w @tributary/e2e -- --minutes 10`).
import { describe, expect, it } from 'vitest';
import { runSoak } from './soak.js';

const only = (process.env.SOAK_SCENARIOS ?? 'node-kill-restart').split(',');
const rounds = Number(process.env.SOAK_ROUNDS ?? 1);

describe('soak driver', () => {
  it(`runs ${rounds} round(s) of ${only.join(', ')} and reports every run`, {
    timeout: 300_000,
  }, async () => {
    const seen: string[] = [];
    const report = await runSoak({ rounds, only, onRun: (r) => seen.push(r.name) });
    expect(report.rounds).toBe(rounds);
    expect(seen).toEqual(Array.from({ length: rounds }, () => only).flat());
    for (const r of report.runs)
      expect({ name: r.name, ok: r.ok, error: r.error }).toEqual({
        name: r.name,
        ok: true,
        error: undefined,
      });
    expect(report.summary).toEqual(Object.fromEntries(only.map((n) => [n, { runs: rounds, failures: 0 }])));
  });

  it('refuses an unknown scenario and a run without a bound', async () => {
    await expect(runSoak({ rounds: 1, only: ['no-such-fault'] })).rejects.toThrow(
      /unknown scenario no-such-fault/,
    );
    await expect(runSoak({})).rejects.toThrow(/minutes or rounds/);
  });
});
