import { defineError } from '@tributary/core';

/** No connection became free within the acquire timeout. */
export const ErrPoolTimeout = defineError(
  'TRIB_POOL_TIMEOUT',
  (endpoint: string, ms: number) => `no connection to ${endpoint} became available within ${ms} ms`,
  { retriable: true },
);

/** The pool is closing or closed: no more acquires. */
export const ErrPoolClosed = defineError(
  'TRIB_POOL_CLOSED',
  (endpoint: string) => `the pool for ${endpoint} is closed`,
);

/** Too many callers are already waiting (maxWaiting). */
export const ErrPoolQueueFull = defineError(
  'TRIB_POOL_QUEUE_FULL',
  (endpoint: string, maxWaiting: number) =>
    `${maxWaiting} callers are already waiting for a connection to ${endpoint}`,
  { retriable: true },
);
