import { defineError } from '@tributary/core';

export const ErrChannelIndexClosed = defineError(
  'TRIB_CHANNEL_INDEX_CLOSED',
  () => 'channel index is closed',
);
export const ErrChannelIndexReadOnly = defineError(
  'TRIB_CHANNEL_INDEX_READ_ONLY',
  (what: string) => `channel index was opened read-only: ${what} is not allowed`,
);
export const ErrChannelIndexFailed = defineError(
  'TRIB_CHANNEL_INDEX_FAILED',
  (why: string) => `channel index stopped writing: ${why}`,
);
export const ErrChannelIndexOldLayout = defineError(
  'TRIB_CHANNEL_INDEX_OLD_LAYOUT',
  (prefix: string) =>
    `the channel index under "${prefix}" was written by an earlier version in another block layout; rebuild it (delete its keys and stream again from the start)`,
);
export const ErrBadSince = defineError(
  'TRIB_CHANNEL_INDEX_BAD_SINCE',
  (why: string) => `invalid since token: ${why}`,
);
export const ErrBadChannel = defineError(
  'TRIB_CHANNEL_INDEX_BAD_CHANNEL',
  (name: string, why: string) => `invalid channel name "${name}": ${why}`,
);
export const ErrBadParameter = defineError(
  'TRIB_CHANGES_BAD_PARAMETER',
  (name: string, why: string) => `bad parameter "${name}": ${why}`,
);
export const ErrUnknownUser = defineError(
  'TRIB_CHANGES_UNKNOWN_USER',
  (name: string) => `no user named "${name}"`,
);
export const ErrTooManyConnections = defineError(
  'TRIB_CHANGES_TOO_MANY_CONNECTIONS',
  (max: number) => `too many connections to the _changes server (limit ${max}); retry later`,
  { retriable: true },
);
export const ErrTooManyWaitingClients = defineError(
  'TRIB_CHANGES_TOO_MANY_CLIENTS',
  (max: number) => `too many waiting _changes clients (limit ${max}); retry later`,
  { retriable: true },
);
