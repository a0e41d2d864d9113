// "@tributary/core/conformance": vitest suites that every plugin runs. Importing the main entry
// of @tributary/core never loads this file (vitest is an optional peer).
export { runAuthConformance, exchange, type AuthConformanceOptions } from './auth.js';
export { runConnectionFactoryConformance, type ConnectionFactoryConformanceOptions } from './connection-factory.js';
export { runStoreConformance, type StoreConformanceOptions } from './store.js';
