// The writer's clock of one channel: per vbucket, the highest seqno in the channel. Every batch
// raises a few of them in each of hundreds of channels, and a Map of 1,024 vbuckets is 40 KB of
// hash table that is cold by the next batch: a set there cost about 240 ns of cache misses, and
// the clock merge was a fifth of the write path. A clock with more than a few vbuckets keeps them
// in a Float64Array indexed by vbucket instead (8 bytes a vbucket, one cache line a set); one with
// few keeps a small Map, so that many channels of few documents stay small.

/** Vbuckets a clock holds in a Map before it switches to an array. */
const SPARSE_MAX = 32;
/** Vbucket numbers are u16. */
const MAX_VB = 0xffff;

export class ChannelClock implements ReadonlyMap<number, number> {
  /** Few vbuckets: vbucket → seqno. */
  #map: Map<number, number> | undefined = new Map();
  /** Many: seqno + 1 at each vbucket's index (0: not held). */
  #dense: Float64Array | undefined;
  #size = 0;

  static from(pairs: Iterable<readonly [number, number]>): ChannelClock {
    const c = new ChannelClock();
    for (const [vb, seq] of pairs) c.set(vb, seq);
    return c;
  }

  get size(): number {
    return this.#map ? this.#map.size : this.#size;
  }

  get(vb: number): number | undefined {
    if (this.#map) return this.#map.get(vb);
    // (a vbucket past the array, or not an index at all, reads undefined: 0 and undefined are both "not held")
    const v = this.#dense![vb];
    return v ? v - 1 : undefined;
  }

  has(vb: number): boolean {
    return this.get(vb) !== undefined;
  }

  set(vb: number, seq: number): this {
    if (!Number.isInteger(vb) || vb < 0 || vb > MAX_VB) throw new RangeError(`vbucket ${vb} out of range`);
    if (!(seq >= 0)) throw new RangeError(`seqno ${seq} out of range`);
    const map = this.#map;
    if (map) {
      map.set(vb, seq);
      if (map.size > SPARSE_MAX) this.#toDense(map);
      return this;
    }
    let a = this.#dense!;
    if (vb >= a.length) a = this.#grow(vb);
    if (a[vb] === 0) this.#size++;
    a[vb] = seq + 1;
    return this;
  }

  delete(vb: number): boolean {
    if (this.#map) return this.#map.delete(vb);
    const a = this.#dense!;
    if (!a[vb]) return false;
    a[vb] = 0;
    this.#size--;
    return true;
  }

  forEach(f: (seq: number, vb: number, clock: ReadonlyMap<number, number>) => void): void {
    if (this.#map) {
      for (const [vb, seq] of this.#map) f(seq, vb, this);
      return;
    }
    const a = this.#dense!;
    for (let vb = 0; vb < a.length; vb++) if (a[vb]) f(a[vb]! - 1, vb, this);
  }

  /**
   * Whether some vbucket's seqno is above `lo(vb)` (the fast path for a waiting reader's check:
   * no iterator, no pair per vbucket).
   */
  some(above: (vb: number, seq: number) => boolean): boolean {
    if (this.#map) {
      for (const [vb, seq] of this.#map) if (above(vb, seq)) return true;
      return false;
    }
    const a = this.#dense!;
    for (let vb = 0; vb < a.length; vb++) if (a[vb] && above(vb, a[vb]! - 1)) return true;
    return false;
  }

  *entries(): MapIterator<[number, number]> {
    if (this.#map) {
      yield* this.#map;
      return;
    }
    const a = this.#dense!;
    for (let vb = 0; vb < a.length; vb++) if (a[vb]) yield [vb, a[vb]! - 1];
  }

  *keys(): MapIterator<number> {
    for (const [vb] of this.entries()) yield vb;
  }

  *values(): MapIterator<number> {
    for (const [, seq] of this.entries()) yield seq;
  }

  [Symbol.iterator](): MapIterator<[number, number]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'ChannelClock';
  }

  #toDense(map: Map<number, number>): void {
    let max = 0;
    for (const vb of map.keys()) if (vb > max) max = vb;
    const a = new Float64Array(Math.max(64, max + 1));
    for (const [vb, seq] of map) a[vb] = seq + 1;
    this.#dense = a;
    this.#size = map.size;
    this.#map = undefined;
  }

  #grow(vb: number): Float64Array {
    const a = new Float64Array(Math.min(MAX_VB + 1, Math.max(vb + 1, this.#dense!.length * 2)));
    a.set(this.#dense!);
    this.#dense = a;
    return a;
  }
}

/**
 * Whether `clock` has a vbucket above `since` that the stable clock has reached too: something a
 * reader at `since` can read now.
 */
export function hasReadableAbove(
  clock: ReadonlyMap<number, number>,
  since: ReadonlyMap<number, number>,
  stable: ReadonlyMap<number, number>,
): boolean {
  const above = (vb: number, s: number): boolean => {
    const lo = since.get(vb) ?? 0;
    return s > lo && (stable.get(vb) ?? 0) > lo;
  };
  if (clock instanceof ChannelClock) return clock.some(above);
  for (const [vb, s] of clock) if (above(vb, s)) return true;
  return false;
}
