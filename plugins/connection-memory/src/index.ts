export { ErrMemoryListenFailed } from './errors.js';
export { createMemoryPair, MemoryConnection, type MemoryConnectionOptions } from './memory-connection.js';
export {
  createMemoryFactory,
  type MemoryConnectionFactory,
  type MemoryFactoryOptions,
  MemoryListener,
  MemoryNamespace,
} from './memory-factory.js';
export { type MemoryPluginOptions, memoryOptionsSchema, parseMemoryOptions } from './options.js';
export { plugin, plugins } from './plugin.js';
