import { definePlugin } from '@tributary/core';
import { type PlainPluginOptions, parsePlainOptions } from './options.js';
import { createPlainProvider } from './plain-provider.js';

/** Registry manifest: `registry.create('auth', 'plain', { allowInsecurePlain }, ctx)`. */
export const plugin = definePlugin<'auth', PlainPluginOptions>({
  kind: 'auth',
  name: 'plain',
  apiVersion: 1,
  parseOptions: parsePlainOptions,
  create: (o) => createPlainProvider(o),
});

export const plugins = [plugin];
