export { ErrTlsListenFailed } from './errors.js';
export { parseTlsOptions, type TlsPluginOptions, tlsOptionsSchema } from './options.js';
export { plugin, plugins } from './plugin.js';
export { createTlsFactory, type TlsFactoryOptions } from './tls-factory.js';
