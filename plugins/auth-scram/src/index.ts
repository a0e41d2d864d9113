export { mechanismFor, SCRAM_MECHANISMS, scramHashFor } from './mechanisms.js';
export { parseScramOptions, type ScramPluginOptions, scramOptionsSchema } from './options.js';
export { plugin, plugins } from './plugin.js';
export { ScramClient, type ScramClientOptions } from './scram-client.js';
export { createScramProvider, type ScramProviderOptions } from './scram-provider.js';
export { ScramServer, type ScramServerOptions } from './scram-server.js';
