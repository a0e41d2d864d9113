// Where an indexing run's time goes that the index does not spend itself: garbage collection
// (every row) and, for the memory store, the store's own batch calls. MemoryStore.batch applies
// a batch synchronously before it returns, so the time of the call is the store's work, with any
// collection that lands in it; other stores commit off the thread and overlap the index's work.
import { PerformanceObserver } from 'node:perf_hooks';
import type { Store } from '@tributary/core';

export class CostSplit {
  #gcMs = 0;
  #storeNs = 0n;
  readonly #observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.#gcMs += e.duration;
  });

  constructor() {
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  /** Times `store`'s batch calls from now on (only where they apply synchronously: memory). */
  timeBatches(store: Store): void {
    const batch = store.batch.bind(store);
    store.batch = (ops) => {
      const t0 = process.hrtime.bigint();
      const done = batch(ops);
      this.#storeNs += process.hrtime.bigint() - t0;
      return done;
    };
  }

  /** Starts a window: gc entries of earlier work are delivered and dropped first. */
  async start(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.#gcMs = 0;
    this.#storeNs = 0n;
  }

  /** Microseconds per mutation of the window: gc, and store calls where timed. */
  async end(mutations: number, withStore: boolean): Promise<Record<string, number>> {
    await new Promise((resolve) => setImmediate(resolve));
    const out: Record<string, number> = { gcUsPerMutation: (this.#gcMs * 1000) / mutations };
    if (withStore) out.storeUsPerMutation = Number(this.#storeNs) / 1000 / mutations;
    return out;
  }

  close(): void {
    this.#observer.disconnect();
  }
}
