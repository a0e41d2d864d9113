import type { HistogramLike } from '@tributary/core';
import { checkBuckets, defaultBuckets } from './buckets.js';

// Log-linear buckets: SUB buckets per power of two, so any recorded value is reported within
// about 100/SUB % of itself, in fixed memory (no samples kept), like HdrHistogram.
const SUB = 16;
const MIN_EXP = -20; // ~1e-6
const MAX_EXP = 44; // ~1.7e13
const BUCKETS = (MAX_EXP - MIN_EXP) * SUB + 2;

export interface HistogramSnapshot {
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

function bucketOf(v: number): number {
  if (v <= 0) return 0;
  const e = Math.log2(v);
  if (e < MIN_EXP) return 0;
  if (e >= MAX_EXP) return BUCKETS - 1;
  return 1 + Math.floor((e - MIN_EXP) * SUB);
}

function bucketValue(i: number): number {
  if (i === 0) return 0;
  if (i === BUCKETS - 1) return Number.POSITIVE_INFINITY; // overflow bucket: clamped to max by the caller
  // Upper edge of the bucket, so a percentile never under-reports.
  return 2 ** (MIN_EXP + i / SUB);
}

/** Cumulative counts per exposition bound (`le`), the last one +Inf: what Prometheus scrapes. */
export interface HistogramBuckets {
  readonly bounds: readonly number[];
  /** One more than `bounds`: the +Inf bucket, equal to the count. */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/**
 * Two views of one stream of values: fine log-linear buckets for percentiles within ~4.4 % (the
 * `snapshot()` API), and a few fixed `le` bounds for Prometheus, which can add those up across
 * instances (a summary's quantiles cannot be). Both are fixed memory; `observe` is a log2 and a
 * short scan, no allocation.
 */
export class Histogram implements HistogramLike {
  readonly #counts = new Float64Array(BUCKETS);
  readonly bounds: readonly number[];
  readonly #le: Float64Array;
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly help = '',
    buckets?: readonly number[],
  ) {
    this.bounds = buckets ? checkBuckets(buckets) : defaultBuckets(name);
    this.#le = new Float64Array(this.bounds.length + 1);
  }

  observe(v: number): void {
    this.#counts[bucketOf(v)]! += 1;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && !(v <= b[i]!)) i++;
    this.#le[i]! += 1;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  /** The exposition view: cumulative counts per bound (NaN observations count only in +Inf). */
  buckets(): HistogramBuckets {
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i < this.#le.length; i++) cumulative.push((acc += this.#le[i]!));
    return { bounds: this.bounds, cumulative, sum: this.sum, count: this.count };
  }

  reset(): void {
    this.#counts.fill(0);
    this.#le.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = Number.NEGATIVE_INFINITY;
  }

  snapshot(): HistogramSnapshot {
    const empty = this.count === 0;
    return {
      count: this.count,
      sum: this.sum,
      min: empty ? 0 : this.min,
      max: empty ? 0 : this.max,
      mean: empty ? 0 : this.sum / this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
    };
  }
}
