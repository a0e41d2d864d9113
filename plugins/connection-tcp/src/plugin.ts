import { definePlugin } from '@tributary/core';
import { parseTcpOptions, type TcpPluginOptions } from './options.js';
import { createTcpFactory } from './tcp-factory.js';

/** Registry manifest: `registry.create('connection-factory', 'tcp', options, ctx)`. */
export const plugin = definePlugin<'connection-factory', TcpPluginOptions>({
  kind: 'connection-factory',
  name: 'tcp',
  apiVersion: 1,
  parseOptions: parseTcpOptions,
  create: (options, ctx) => createTcpFactory({ ...options, logger: ctx.logger, metrics: ctx.metrics }),
});

export const plugins = [plugin];
