/**
 * Default exposition buckets. Latencies here run from well under a millisecond (a memory-store
 * batch) to tens of seconds (a consumer catching up after an outage); counts and sizes span
 * powers of four.
 */
export const SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

export const BYTES_BUCKETS: readonly number[] = Object.freeze(
  Array.from({ length: 11 }, (_, i) => 64 * 4 ** i), // 64 B .. 64 MiB
);

export const COUNT_BUCKETS: readonly number[] = Object.freeze(
  Array.from({ length: 11 }, (_, i) => 4 ** i), // 1 .. ~1 M
);

/** The buckets a histogram gets when it names none: by the unit its name ends in. */
export function defaultBuckets(name: string): readonly number[] {
  if (name.endsWith('_seconds')) return SECONDS_BUCKETS;
  if (name.endsWith('_bytes')) return BYTES_BUCKETS;
  return COUNT_BUCKETS;
}

export function checkBuckets(b: readonly number[]): readonly number[] {
  if (b.length === 0) throw new RangeError('a histogram needs at least one bucket bound');
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(b[i]!)) throw new RangeError(`bucket bound ${b[i]} is not finite`);
    if (i > 0 && !(b[i]! > b[i - 1]!)) throw new RangeError('bucket bounds must increase');
  }
  return Object.freeze([...b]);
}

/**
 * PromQL's histogram_quantile over cumulative bucket counts (`le` bounds, the last +Inf): linear
 * interpolation inside the bucket that holds the rank, the lower edge of the first bucket taken
 * as 0, and the highest finite bound when the rank falls in +Inf. NaN when there are no samples.
 */
export function bucketQuantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (!(total > 0)) return Number.NaN;
  if (q <= 0) return Math.min(bounds[0]!, 0);
  if (q >= 1) return bounds[bounds.length - 1]!;
  const rank = q * total;
  let i = 0;
  while (i < cumulative.length - 1 && cumulative[i]! < rank) i++;
  if (i >= bounds.length) return bounds[bounds.length - 1]!; // in +Inf
  const upper = bounds[i]!;
  const lower = i === 0 ? Math.min(upper, 0) : bounds[i - 1]!;
  const below = i === 0 ? 0 : cumulative[i - 1]!;
  const inBucket = cumulative[i]! - below;
  if (inBucket === 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
