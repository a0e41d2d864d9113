export { ErrPoolClosed, ErrPoolQueueFull, ErrPoolTimeout } from './errors.js';
export {
  type AcquireOptions,
  type CloseOptions,
  createPool,
  Pool,
  type PoolOptions,
  type PoolStats,
} from './pool.js';
export { type PooledConnection, PoolGuard } from './pool-guard.js';
