import { describe, expect, it } from 'vitest';
import type { Store } from '../contracts/store.js';

export interface StoreConformanceOptions {
  /** Opens a store over a fresh, empty namespace; called once per test. */
  open: () => Promise<Store>;
  /** Opens a second instance over the same namespace as the last `open` (durability, watch). */
  reopen?: () => Promise<Store>;
  durable?: boolean;
}

const enc = (s: string) => new TextEncoder().encode(s);

/** The cases every store plugin, ours or a third party's, must pass. */
export function runStoreConformance(name: string, options: StoreConformanceOptions): void {
  describe(`store conformance: ${name}`, () => {
    it('puts, gets and deletes through batches', async () => {
      const store = await options.open();
      try {
        await store.batch([{ type: 'put', key: enc('a'), value: enc('1') }]);
        expect(await store.get(enc('a'))).toEqual(enc('1'));
        await store.batch([{ type: 'del', key: enc('a') }]);
        expect(await store.get(enc('a'))).toBeUndefined();
      } finally {
        await store.close();
      }
    });
  });
}
