import { definePlugin } from '@tributary/core';
import { createLmdbStore } from './lmdb-store.js';
import { type LmdbStorePluginOptions, parseLmdbStoreOptions } from './options.js';

/** Registry manifest: `registry.create('store', 'lmdb', { path }, ctx)`. */
export const plugin = definePlugin<'store', LmdbStorePluginOptions>({
  kind: 'store',
  name: 'lmdb',
  apiVersion: 1,
  parseOptions: parseLmdbStoreOptions,
  create: (options, ctx) => createLmdbStore({ ...options, logger: ctx.logger, metrics: ctx.metrics }),
});

export const plugins = [plugin];
