export * from './errors.js';
export { type BinMessage, bytesMessage, jsonMessage, type MessageType } from './message-type.js';
export type {
  BeginVbucketEvent,
  EndVbucketEvent,
  Mutation,
  MutationBatch,
  MutationStreamErrorEvent,
  MutationStreamEvent,
  SnapshotEvent,
} from './mutation.js';
export {
  createMutationStreamClient,
  MutationStreamClient,
  type MutationStreamClientOptions,
  type MutationStreamClientStats,
} from './mutation-stream-client.js';
export {
  createMutationStreamServer,
  MutationStreamServer,
  type MutationStreamServerOptions,
  type MutationStreamServerStats,
} from './mutation-stream-server.js';
export {
  createTransport,
  DEFAULT_TRANSPORT_SETTINGS,
  type Incoming,
  type MessageHandler,
  type RequestOptions,
  type SendOptions,
  Stream,
  type StreamCallback,
  type StreamOptions,
  Transport,
  type TransportAuth,
  type TransportClientAuth,
  type TransportOptions,
  type TransportServerAuth,
  type TransportSettings,
  type TransportStats,
} from './transport.js';
