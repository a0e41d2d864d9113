export {
  type ChangesDatabase,
  type ChangesServer,
  type ChangesServerOptions,
  createChangesServer,
} from './changes-server.js';
export {
  type ChangeEntry,
  type ChangesOptions,
  type ChangesResult,
  ChannelIndex,
  type ChannelIndexOptions,
  type ChannelIndexStats,
  type CheckpointWriter,
  createChannelIndex,
  type ReceiverRequest,
  type StreamMutation,
  validateChannelName,
  type WaitOptions,
} from './channel-index.js';
export { type ChannelsOf, type DocMeta, defaultChannelsOf } from './channels-of.js';
export {
  ErrBadChannel,
  ErrBadParameter,
  ErrBadSince,
  ErrChannelIndexClosed,
  ErrChannelIndexFailed,
  ErrChannelIndexOldLayout,
  ErrChannelIndexReadOnly,
  ErrTooManyConnections,
  ErrTooManyWaitingClients,
  ErrUnknownUser,
} from './errors.js';
export { decodeSince, decodeSinceToken, encodeSince, type VectorClock } from './since-token.js';
export {
  createUserStore,
  type User,
  UserStore,
  type UserStoreOptions,
  validateUserName,
} from './user-store.js';
