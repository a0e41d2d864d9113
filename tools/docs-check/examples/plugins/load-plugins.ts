import { createLogger, createRegistry, isTributaryError } from '@tributary/core';

const registry = createRegistry({ context: { logger: createLogger({ level: 'warn' }) } });
await registry.load('@tributary/store-redis'); // imports the package, registers its `plugins`
await registry.load('@tributary/store-memory'); // a third party's package loads the same way
console.log(registry.list('store').map((p) => p.name)); // [ 'redis', 'memory' ]

const store = await registry.create('store', 'redis', { url: 'redis://127.0.0.1:6379', prefix: 'app:' });
const key = new TextEncoder().encode('plugins-doc');
await store.batch([{ type: 'put', key, value: Uint8Array.of(1) }]);
console.log(Array.from((await store.get(key))!)); // [ 1 ]
await store.batch([{ type: 'del', key }]);
await store.close();

try {
  await registry.load('@acme/tributary-store-rocks');
} catch (err) {
  if (isTributaryError(err, 'TRIB_PLUGIN_LOAD')) console.log(err.code); // not installed: TRIB_PLUGIN_LOAD
}
