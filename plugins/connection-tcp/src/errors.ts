import { defineError } from '@tributary/core';

/** The listener could not bind (address in use, permission denied, bad host). */
export const ErrTcpListenFailed = defineError(
  'TRIB_TCP_LISTEN_FAILED',
  (endpoint: string, why: string) => `cannot listen on ${endpoint}: ${why}`,
);
