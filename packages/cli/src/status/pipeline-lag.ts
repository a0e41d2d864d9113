/**
 * How far the index is behind the cluster, per vbucket: seqnos the producer has (its high seqno)
 * that the index has not made visible (its stable clock), and for how long the oldest of them has
 * waited. The producer's seqnos are sampled once a tick with the time they were first seen, so the
 * seconds are within a tick (plus the high seqno's own staleness) of the truth.
 */
export class PipelineLag {
  /** Per vbucket: [seqno, ms] pairs, oldest first. */
  readonly #seen = new Map<number, number[]>();
  static readonly SAMPLES = 32;

  /** Records the producer's `high` for `vb` at `now` (ms); returns the seqnos behind. */
  update(vb: number, high: number, indexed: number, now: number): number {
    let s = this.#seen.get(vb);
    if (!s) this.#seen.set(vb, (s = []));
    let drop = 0;
    while (drop < s.length && s[drop]! <= indexed) drop += 2;
    if (drop) s.splice(0, drop);
    if (high > indexed && (s.length === 0 || high > s[s.length - 2]!)) {
      if (s.length >= 2 * PipelineLag.SAMPLES) s[s.length - 2] = high;
      else s.push(high, now);
    }
    return Math.max(0, high - indexed);
  }

  /** Seconds the oldest seqno not yet visible has been known (0 when caught up). */
  seconds(vb: number, now: number): number {
    const s = this.#seen.get(vb);
    return s?.length ? Math.max(0, (now - s[1]!) / 1000) : 0;
  }

  forget(vb: number): void {
    this.#seen.delete(vb);
  }
}
