import { definePlugin } from '@tributary/core';
import { parseRedisStoreOptions, type RedisStorePluginOptions } from './options.js';
import { createRedisStore } from './redis-store.js';

/** Registry manifest: `registry.create('store', 'redis', { url, prefix }, ctx)`. */
export const plugin = definePlugin<'store', RedisStorePluginOptions>({
  kind: 'store',
  name: 'redis',
  apiVersion: 1,
  parseOptions: parseRedisStoreOptions,
  create: (options, ctx) => createRedisStore({ ...options, logger: ctx.logger, metrics: ctx.metrics }),
});

export const plugins = [plugin];
