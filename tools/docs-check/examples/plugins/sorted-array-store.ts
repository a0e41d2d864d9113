// A store plugin in one file: ordered keys in a sorted array, values in a map. A real plugin has
// the same shape around its backend (a database client where this has the array).
import {
  type BatchOp,
  checkKey,
  checkOps,
  definePlugin,
  ErrStoreClosed,
  optionsParser,
  type ScanOptions,
  type Store,
  type StoreEntry,
  toRange,
} from '@tributary/core';
import { z } from 'zod';

export class SortedArrayStore implements Store {
  readonly name = 'sorted-array';
  readonly #keys: Buffer[] = []; // ascending, bytewise
  readonly #values = new Map<string, Buffer>(); // hex key → value
  #closed = false;

  #open(): void {
    if (this.#closed) throw ErrStoreClosed(this.name);
  }

  /** Index of the first key ≥ `key`. */
  #find(key: Buffer): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.#keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#open();
    const value = this.#values.get(checkKey(key).toString('hex'));
    return value && Uint8Array.from(value); // a copy: callers may not change what we hold
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#open();
    // checkOps validates every op first (TRIB_INVALID_ARGUMENT): a bad op leaves nothing behind.
    for (const op of checkOps(ops)) {
      const id = op.key.toString('hex');
      const at = this.#find(op.key);
      const present = this.#keys[at]?.equals(op.key) ?? false;
      if (op.type === 'put') {
        if (!present) this.#keys.splice(at, 0, Buffer.from(op.key));
        this.#values.set(id, Buffer.from(op.value!));
      } else if (present) {
        this.#keys.splice(at, 1);
        this.#values.delete(id);
      }
    }
  }

  async *scan(options: ScanOptions = {}): AsyncIterable<StoreEntry> {
    this.#open();
    const range = toRange(options); // gte/lt/prefix folded into [gte, lt), limit checked
    if (range.empty) return;
    const start = range.gte ? this.#find(range.gte) : 0;
    const stop = range.lt ? this.#find(range.lt) : this.#keys.length;
    const keys = this.#keys.slice(start, Math.max(start, stop)); // the range as the scan began
    if (range.reverse) keys.reverse();
    let n = 0;
    for (const key of keys) {
      if (n >= range.limit) return;
      this.#open();
      const value = this.#values.get(key.toString('hex'));
      if (value === undefined) continue; // deleted since the scan began
      n++;
      yield { key: Uint8Array.from(key), value: Uint8Array.from(value) };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

export const plugin = definePlugin<'store', Record<string, never>>({
  kind: 'store',
  name: 'sorted-array',
  apiVersion: 1,
  parseOptions: optionsParser('sorted-array', z.object({}).strict()),
  create: () => new SortedArrayStore(),
});

export const plugins = [plugin];
