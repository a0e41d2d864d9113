/**
 * A Map bounded to `max` entries that evicts in insertion order (a FIFO, which for the index's
 * caches works as well as LRU). Eviction order lives in its own array: V8 Maps keep deleted
 * slots until they rehash, so taking "the first key" of a Map used as a queue gets slower with
 * every eviction.
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  #order: K[] = [];
  #head = 0;
  constructor(readonly max: number) {}
  get size(): number {
    return this.#map.size;
  }
  get(key: K): V | undefined {
    return this.#map.get(key);
  }
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }
  has(key: K): boolean {
    return this.#map.has(key);
  }
  set(key: K, value: V): void {
    const size = this.#map.size;
    this.#map.set(key, value);
    if (this.#map.size === size) return;
    this.#order.push(key);
    while (this.#map.size > this.max && this.#head < this.#order.length) {
      const k = this.#order[this.#head++]!;
      this.#map.delete(k);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
  delete(key: K): void {
    this.#map.delete(key);
  }
  clear(): void {
    this.#map.clear();
    this.#order = [];
    this.#head = 0;
  }
}
