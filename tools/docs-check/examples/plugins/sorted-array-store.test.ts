import { createRegistry } from '@tributary/core';
import { runStoreConformance } from '@tributary/core/conformance';
import { expect, it } from 'vitest';
import { plugins, SortedArrayStore } from './sorted-array-store.js';

// The same kit every first-party store passes.
runStoreConformance('sorted-array', { open: async () => new SortedArrayStore() });

it('registers and is created by name, refusing unknown options', async () => {
  const registry = createRegistry({ plugins });
  const store = await registry.create('store', 'sorted-array', {});
  await store.batch([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(2) }]);
  expect(await store.get(Uint8Array.of(1))).toEqual(Uint8Array.of(2));
  await expect(registry.create('store', 'sorted-array', { size: 1 })).rejects.toMatchObject({
    code: 'TRIB_PLUGIN_OPTIONS',
  });
});
