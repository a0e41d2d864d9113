export { ErrTcpListenFailed } from './errors.js';
export { parseTcpOptions, type TcpPluginOptions, tcpOptionsSchema } from './options.js';
export { plugin, plugins } from './plugin.js';
export { asTcpConnection, createTcpFactory, type TcpFactoryOptions } from './tcp-factory.js';
