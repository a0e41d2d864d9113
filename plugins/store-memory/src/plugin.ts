import { definePlugin } from '@tributary/core';
import { createMemoryStore } from './memory-store.js';
import { type MemoryStorePluginOptions, parseMemoryStoreOptions } from './options.js';

/** Registry manifest: `registry.create('store', 'memory', options, ctx)`. */
export const plugin = definePlugin<'store', MemoryStorePluginOptions>({
  kind: 'store',
  name: 'memory',
  apiVersion: 1,
  parseOptions: parseMemoryStoreOptions,
  create: (options, ctx) => createMemoryStore({ ...options, logger: ctx.logger, metrics: ctx.metrics }),
});

export const plugins = [plugin];
