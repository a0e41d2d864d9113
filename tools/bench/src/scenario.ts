/**
 * The benchmark scenario contract. A scenario is a file `src/scenarios/<area>-<what>.ts` exporting
 * `scenario`. Each runner does a fixed amount of work, timing only that work itself with
 * `process.hrtime.bigint()`, and reports how many operations it did in how many seconds.
 * With `{ quick: true }` every runner must finish in well under a second (CI smoke).
 */
export interface RunOptions {
  quick: boolean;
}

export interface Measurement {
  /** Operations done (in the scenario's `unit`, e.g. packets for 'packets/s'). */
  ops: number;
  /** Seconds spent on them, measured by the runner itself. */
  seconds: number;
  /** Anything else worth recording per run, e.g. { mbPerSec, cpuUserMs, rssMb }. Medians are reported. */
  extra?: Record<string, number>;
}

export type Runner<S> = (state: S, options: RunOptions) => Promise<Measurement>;

export interface Goal {
  /** How the goal reads in the report, e.g. 'subject >= 0.5 x baseline'. */
  text: string;
  /** Pass when median(subject) / median(baseline, or `peer` when named) is at least this. */
  ratioAtLeast?: number;
  /** Compare against this peer instead of the baseline. */
  peer?: string;
  /** Pass when median(subject) in `unit` is at least this. */
  absoluteAtLeast?: number;
}

export interface Scenario<S = any> {
  /** Dotted name, area first: 'codec.decode.mutation-100b'. `--only codec` selects by prefix. */
  name: string;
  /** The issue that asks for this number. */
  issue: number;
  /** Unit of ops/seconds, e.g. 'ops/s', 'packets/s', 'mutations/s'. */
  unit: string;
  goal?: Goal;
  setup?: (options: RunOptions) => Promise<S>;
  /** Our code. */
  subject: Runner<S>;
  /** The ceiling or the direct client that the subject is compared with. */
  baseline?: Runner<S>;
  /** Other libraries doing the same job, by name. */
  peers?: Record<string, Runner<S>>;
  teardown?: (state: S) => Promise<void>;
}

/** Times `fn` with hrtime and returns seconds; the helper runners use for their own work. */
export async function timed(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
