/**
 * A Map bounded to `max` entries, in two generations: new and used entries go to the young Map;
 * when it holds half the capacity the old generation is dropped whole and the young one becomes
 * old. Every operation is O(1) with no per-entry bookkeeping (the index's write path does several
 * lookups per mutation), and an entry used within the last half-capacity insertions survives, which
 * for the index's caches works as well as LRU.
 */
export class Lru<K, V> {
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  readonly #half: number;
  /** How many entries were evicted so far (a cache that never evicted holds everything it was given). */
  evictions = 0;
  constructor(readonly max: number) {
    this.#half = Math.max(1, Math.ceil(max / 2));
  }
  get size(): number {
    return this.#young.size + this.#old.size;
  }
  /** The value, kept as recently used. (Values are never undefined: undefined means absent.) */
  get(key: K): V | undefined {
    const v = this.#young.get(key);
    if (v !== undefined) return v;
    const o = this.#old.get(key);
    if (o === undefined) return undefined;
    this.#old.delete(key);
    this.#put(key, o);
    return o;
  }
  /** The value, without refreshing it. */
  peek(key: K): V | undefined {
    return this.#young.get(key) ?? this.#old.get(key);
  }
  has(key: K): boolean {
    return this.#young.has(key) || this.#old.has(key);
  }
  set(key: K, value: V): void {
    if (this.max === 0) {
      this.evictions++;
      return;
    }
    if (this.#old.size > 0) this.#old.delete(key);
    this.#put(key, value);
  }
  #put(key: K, value: V): void {
    const size = this.#young.size;
    this.#young.set(key, value);
    if (this.#young.size === size || this.#young.size < this.#half) return;
    this.evictions += this.#old.size;
    this.#old = this.#young;
    this.#young = new Map();
  }
  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }
  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }
}
