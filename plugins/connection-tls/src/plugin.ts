import { definePlugin } from '@tributary/core';
import { parseTlsOptions, type TlsPluginOptions, toFactoryOptions } from './options.js';
import { createTlsFactory } from './tls-factory.js';

/** Registry manifest: `registry.create('connection-factory', 'tls', { caFile, certFile, keyFile }, ctx)`. */
export const plugin = definePlugin<'connection-factory', TlsPluginOptions>({
  kind: 'connection-factory',
  name: 'tls',
  apiVersion: 1,
  parseOptions: parseTlsOptions,
  create: (o, ctx) => createTlsFactory({ ...toFactoryOptions(o), logger: ctx.logger, metrics: ctx.metrics }),
});

export const plugins = [plugin];
