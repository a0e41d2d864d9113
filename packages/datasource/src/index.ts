export {
  type BucketDataSource,
  type CreateBucketDataSourceParams,
  createBucketDataSource,
} from './bucket-data-source.js';
export {
  createStoreCheckpoints,
  type DataReceiver,
  decodeCheckpoint,
  encodeCheckpoint,
  memoryCheckpointStore,
  type StoreCheckpoints,
  type StoreCheckpointsOptions,
} from './checkpoints.js';
export {
  type ClusterMap,
  fetchClusterMap,
  followClusterMap,
  isNewerMap,
  JsonObjectSplitter,
  normalizeServerUrl,
  parseClusterMap,
} from './cluster-map.js';
export type { CollectionsFilter } from './collections/collections-option.js';
export {
  ErrAllServerUrlsFailed,
  ErrBootstrap,
  ErrBucketUuidMismatch,
  ErrClusterMap,
  ErrConnectionLost,
  ErrDataSourceClosed,
  ErrMetadata,
  ErrPingTimeout,
  ErrReceiver,
  ErrStream,
} from './errors.js';
export { FLOW_CONTROLLED_OPCODES, FlowControl, flowControlBytes, isFlowControlled } from './flow-control.js';
export { type CreateConsumerGroupParams, createConsumerGroup } from './group/bucket-consumer-group.js';
export {
  ConsumerGroup,
  type ConsumerGroupOptions,
  type ConsumerGroupStats,
  ErrGroupClosed,
  ErrGroupLeaseLost,
  ErrGroupOptions,
  type GroupStreamer,
  type StreamerFactory,
} from './group/consumer-group.js';
export { assignVbuckets } from './group/rendezvous.js';
export {
  decodeMetaData,
  emptyMetaData,
  encodeMetaData,
  type FailoverEntry,
  rolledBackMetaData,
  type StreamStart,
  streamStartFor,
  uuidForRollback,
  type VBucketMetaData,
} from './metadata.js';
export {
  type BucketDataSourceOptions,
  type DataSourceAuth,
  defaultBucketDataSourceOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
export type { CollectionEvent, DcpRequest, MaybePromise, MetaDataResult, Receiver } from './receiver.js';
export {
  type BucketDataSourceStats,
  STAT_NAMES,
  type StatName,
  type VBucketStateName,
  type VBucketStats,
} from './stats.js';
export {
  type BucketStream,
  type StreamBucketParams,
  type StreamEvent,
  streamBucket,
} from './stream-bucket.js';
