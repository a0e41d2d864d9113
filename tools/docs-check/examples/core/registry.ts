import { createRegistry, definePlugin, isTributaryError, optionsParser, type Store } from '@tributary/core';
import { z } from 'zod';

const TinyOptions = z.object({ capacity: z.number().int().positive().default(100) });

const tiny = definePlugin<'store', z.infer<typeof TinyOptions>>({
  kind: 'store',
  name: 'tiny',
  apiVersion: 1,
  parseOptions: optionsParser('tiny', TinyOptions),
  create: (options, ctx): Store => {
    ctx.logger.info({ capacity: options.capacity }, 'opening');
    const map = new Map<string, Uint8Array>();
    const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');
    return {
      name: 'tiny',
      get: async (k) => map.get(hex(k)),
      getMany: async (ks) => ks.map((k) => map.get(hex(k))),
      batch: async (ops) => {
        for (const op of ops) {
          if (op.type === 'put') map.set(hex(op.key), op.value);
          else map.delete(hex(op.key));
        }
      },
      scan: async function* () {},
      close: async () => {},
    };
  },
});

const registry = createRegistry({ plugins: [tiny] });
await registry.load('@tributary/store-memory'); // any installed package exporting `plugins`
console.log(registry.list('store').map((p) => p.name)); // [ 'tiny', 'memory' ]

const store = await registry.create('store', 'tiny', { capacity: 10 });
await store.batch([{ type: 'put', key: Buffer.from('k'), value: Buffer.from('v') }]);
console.log(Buffer.from((await store.get(Buffer.from('k')))!).toString()); // v

try {
  await registry.create('store', 'tiny', { capacity: -1 });
} catch (err) {
  if (isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')) console.log(err.message);
  // invalid options for plugin "tiny" at "capacity": Number must be greater than 0
}
