// Every store shares the codes @tributary/core declares; re-exported so users import them from here too.
export { ErrStoreClosed, ErrStoreUnavailable, ErrStoreWatchOverflow } from '@tributary/core';
