import { definePlugin } from '@tributary/core';
import { createMemoryFactory } from './memory-factory.js';
import { type MemoryPluginOptions, parseMemoryOptions } from './options.js';

/** Registry manifest: `registry.create('connection-factory', 'memory', { secure: true }, ctx)`. */
export const plugin = definePlugin<'connection-factory', MemoryPluginOptions>({
  kind: 'connection-factory',
  name: 'memory',
  apiVersion: 1,
  parseOptions: parseMemoryOptions,
  create: (o, ctx) => createMemoryFactory({ ...o, logger: ctx.logger }),
});

export const plugins = [plugin];
