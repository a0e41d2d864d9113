import { runStoreConformance } from '@tributary/core/conformance';
import { createMemoryBackend, createMemoryStore, type MemoryBackend } from '../src/index.js';

let backend: MemoryBackend = createMemoryBackend();

runStoreConformance('memory', {
  open: async () => {
    backend = createMemoryBackend();
    return createMemoryStore({ backend });
  },
  // a second instance over the same in-process backend: shares data and watchers
  reopen: async () => createMemoryStore({ backend }),
  durable: true,
});
