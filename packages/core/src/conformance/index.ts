// "@tributary/core/conformance": vitest suites that every plugin runs. Importing the main entry
// of @tributary/core never loads this file (vitest is an optional peer).
export { type AuthConformanceOptions, exchange, runAuthConformance } from './auth.js';
export {
  type ConnectionFactoryConformanceOptions,
  runConnectionFactoryConformance,
} from './connection-factory.js';
export { runStoreConformance, type StoreConformanceOptions } from './store.js';
export {
  type KillNamespace,
  runStoreKillSafety,
  type StoreKillSafetyOptions,
  writeBatchGenerations,
} from './store-kill.js';
