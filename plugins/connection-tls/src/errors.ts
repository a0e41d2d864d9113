import { defineError } from '@tributary/core';

/** The listener could not bind (address in use, bad certificate/key, bad host). */
export const ErrTlsListenFailed = defineError(
  'TRIB_TLS_LISTEN_FAILED',
  (endpoint: string, why: string) => `cannot listen (TLS) on ${endpoint}: ${why}`,
);
