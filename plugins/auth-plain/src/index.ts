export { type PlainPluginOptions, parsePlainOptions, plainOptionsSchema } from './options.js';
export { createPlainProvider, type PlainProviderOptions } from './plain-provider.js';
export { plugin, plugins } from './plugin.js';
