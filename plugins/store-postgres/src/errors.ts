import { defineError } from '@tributary/core';

export { ErrStoreClosed, ErrStoreUnavailable } from '@tributary/core';

/** A watcher fell more than `max` distinct keys behind; it ends so the consumer can rescan. */
export const ErrStoreWatchOverflow = defineError(
  'TRIB_STORE_WATCH_OVERFLOW',
  (store: string, max: number) =>
    `watch on store "${store}" fell behind by more than ${max} distinct keys; rescan and watch again`,
);
