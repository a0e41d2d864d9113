// The soak driver: runs fault scenarios in a loop for a time or a number of rounds and returns a
// report. `run.ts` is its command line (long runs, not in CI); `soak.test.ts` runs one bounded
// round in the normal suite, so the driver itself is tested and the folder has a test.
import { FAULTS } from '../support/faults.js';
import { runScenario } from '../support/scenario.js';

export interface SoakOptions {
  /** Stop starting scenarios after this long (default: no time limit; give rounds then). */
  minutes?: number;
  /** Stop after this many rounds of every scenario (default: no limit; give minutes then). */
  rounds?: number;
  /** Scenario names (default: every one in FAULTS). */
  only?: string[];
  /** Called after each scenario run, e.g. to print progress. */
  onRun?: (run: SoakRun) => void;
}

export interface SoakRun {
  round: number;
  name: string;
  ok: boolean;
  seconds: number;
  error?: string;
  [figure: string]: unknown;
}

export interface SoakReport {
  minutes: number | undefined;
  rounds: number;
  finishedAt: string;
  summary: Record<string, { runs: number; failures: number }>;
  runs: SoakRun[];
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  if (o.minutes === undefined && o.rounds === undefined) throw new Error('give minutes or rounds');
  if (o.minutes !== undefined && !(o.minutes > 0)) throw new Error('minutes must be a positive number');
  if (o.rounds !== undefined && !(Number.isInteger(o.rounds) && o.rounds > 0))
    throw new Error('rounds must be a positive integer');
  const names = o.only ?? Object.keys(FAULTS);
  for (const n of names)
    if (!FAULTS[n]) throw new Error(`unknown scenario ${n} (known: ${Object.keys(FAULTS).join(', ')})`);
  const deadline = o.minutes === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.minutes * 60_000;
  const runs: SoakRun[] = [];
  let round = 0;
  while (Date.now() < deadline && (o.rounds === undefined || round < o.rounds)) {
    round++;
    for (const name of names) {
      if (Date.now() >= deadline) break;
      const t0 = Date.now();
      let run: SoakRun;
      try {
        const r = await runScenario(await FAULTS[name]!());
        // The same end state the faults suite asserts: every reader, the rebuilt index, and the
        // readers that lived through a rollback.
        const ok =
          r.readerDiffs.every((d) => d.diff.length === 0) &&
          (r.staleReaderDiffs ?? []).every((d) => d.diff.length === 0) &&
          r.rebuiltDiff.length === 0;
        run = {
          round,
          name,
          ok,
          ...r.figures,
          seconds: (Date.now() - t0) / 1000,
          readerDiffs: r.readerDiffs.filter((d) => d.diff.length),
          rebuiltDiff: r.rebuiltDiff,
        };
      } catch (err) {
        run = { round, name, ok: false, error: String(err), seconds: (Date.now() - t0) / 1000 };
      }
      runs.push(run);
      o.onRun?.(run);
    }
  }
  const summary = Object.fromEntries(
    names.map((n) => {
      const rs = runs.filter((r) => r.name === n);
      return [n, { runs: rs.length, failures: rs.filter((r) => !r.ok).length }];
    }),
  );
  return { minutes: o.minutes, rounds: round, finishedAt: new Date().toISOString(), summary, runs };
}
