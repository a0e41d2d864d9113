import { definePlugin } from '@tributary/core';
import { parseScramOptions, type ScramPluginOptions } from './options.js';
import { createScramProvider } from './scram-provider.js';

/** Registry manifest: `registry.create('auth', 'scram', options, ctx)`. */
export const plugin = definePlugin<'auth', ScramPluginOptions>({
  kind: 'auth',
  name: 'scram',
  apiVersion: 1,
  parseOptions: parseScramOptions,
  create: (o) =>
    createScramProvider({
      iterations: o.iterations,
      hashes: o.hashes,
      minIterations: o.minIterations,
      maxIterations: o.maxIterations,
      serverSecret: o.serverSecret === undefined ? undefined : Buffer.from(o.serverSecret, 'base64'),
    }),
});

export const plugins = [plugin];
