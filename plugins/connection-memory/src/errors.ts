import { defineError } from '@tributary/core';

/** The name/port is already taken in this memory namespace. */
export const ErrMemoryListenFailed = defineError(
  'TRIB_MEMORY_LISTEN_FAILED',
  (endpoint: string, why: string) => `cannot listen on memory endpoint ${endpoint}: ${why}`,
);
