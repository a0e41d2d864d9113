import { definePlugin } from '@tributary/core';
import { type PostgresStorePluginOptions, parsePostgresStoreOptions } from './options.js';
import { createPostgresStore } from './postgres-store.js';

/** Registry manifest: `registry.create('store', 'postgres', { connectionString, table }, ctx)`. */
export const plugin = definePlugin<'store', PostgresStorePluginOptions>({
  kind: 'store',
  name: 'postgres',
  apiVersion: 1,
  parseOptions: parsePostgresStoreOptions,
  create: (options, ctx) => createPostgresStore({ ...options, logger: ctx.logger, metrics: ctx.metrics }),
});

export const plugins = [plugin];
