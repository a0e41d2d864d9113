// Constant tables of the memcached binary protocol and DCP, with kv_engine's real values
// (include/mcbp/protocol/{magic,opcode,status,datatype,feature,dcp_stream_end_status}.h).

/** Header byte 0. */
export const Magic = {
  /** Client request, vbucket id at bytes 6–7. */
  Request: 0x80,
  /** Server response, status at bytes 6–7. */
  Response: 0x81,
  /** Request with flexible framing extras (byte 2 = framing-extras length, byte 3 = key length). */
  AltRequest: 0x08,
  /** Response with flexible framing extras. */
  AltResponse: 0x18,
  /** Server-initiated request (HELLO Duplex). */
  ServerRequest: 0x82,
  /** Client reply to a server-initiated request. */
  ServerResponse: 0x83,
} as const;
export type Magic = (typeof Magic)[keyof typeof Magic];

/** Header byte 1 for magics 0x80/0x81/0x08/0x18. */
export const Opcode = {
  Get: 0x00,
  Set: 0x01,
  Add: 0x02,
  Replace: 0x03,
  Delete: 0x04,
  Increment: 0x05,
  Decrement: 0x06,
  Quit: 0x07,
  Flush: 0x08,
  GetQ: 0x09,
  Noop: 0x0a,
  Version: 0x0b,
  GetK: 0x0c,
  GetKQ: 0x0d,
  Append: 0x0e,
  Prepend: 0x0f,
  Stat: 0x10,
  SetQ: 0x11,
  AddQ: 0x12,
  ReplaceQ: 0x13,
  DeleteQ: 0x14,
  IncrementQ: 0x15,
  DecrementQ: 0x16,
  QuitQ: 0x17,
  FlushQ: 0x18,
  AppendQ: 0x19,
  PrependQ: 0x1a,
  Verbosity: 0x1b,
  Touch: 0x1c,
  Gat: 0x1d,
  GatQ: 0x1e,
  Hello: 0x1f,
  SaslListMechs: 0x20,
  SaslAuth: 0x21,
  SaslStep: 0x22,
  SetVbucket: 0x3d,
  GetVbucket: 0x3e,
  DelVbucket: 0x3f,
  GetAllVbSeqnos: 0x48,
  DcpOpen: 0x50,
  DcpAddStream: 0x51,
  DcpCloseStream: 0x52,
  DcpStreamReq: 0x53,
  DcpGetFailoverLog: 0x54,
  DcpStreamEnd: 0x55,
  DcpSnapshotMarker: 0x56,
  DcpMutation: 0x57,
  DcpDeletion: 0x58,
  DcpExpiration: 0x59,
  DcpFlush: 0x5a,
  DcpSetVbucketState: 0x5b,
  DcpNoop: 0x5c,
  DcpBufferAcknowledgement: 0x5d,
  DcpControl: 0x5e,
  DcpSystemEvent: 0x5f,
  DcpPrepare: 0x60,
  DcpSeqnoAcknowledged: 0x61,
  DcpCommit: 0x62,
  DcpAbort: 0x63,
  DcpSeqnoAdvanced: 0x64,
  DcpOsoSnapshot: 0x65,
  GetReplica: 0x83,
  ListBuckets: 0x87,
  SelectBucket: 0x89,
  ObserveSeqno: 0x91,
  Observe: 0x92,
  EvictKey: 0x93,
  GetLocked: 0x94,
  UnlockKey: 0x95,
  GetFailoverLog: 0x96,
  GetMeta: 0xa0,
  GetClusterConfig: 0xb5,
  GetRandomKey: 0xb6,
  GetCollectionsManifest: 0xba,
  CollectionsGetId: 0xbb,
  GetErrorMap: 0xfe,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Header byte 1 for server-initiated requests (magic 0x82 / 0x83). */
export const ServerOpcode = {
  ClustermapChangeNotification: 0x01,
  Authenticate: 0x02,
  ActiveExternalUsers: 0x03,
} as const;
export type ServerOpcode = (typeof ServerOpcode)[keyof typeof ServerOpcode];

/** Response status, bytes 6–7 of a response header. */
export const Status = {
  Success: 0x00,
  KeyEnoent: 0x01,
  KeyEexists: 0x02,
  E2big: 0x03,
  Einval: 0x04,
  NotStored: 0x05,
  DeltaBadval: 0x06,
  NotMyVbucket: 0x07,
  NoBucket: 0x08,
  Locked: 0x09,
  DcpStreamNotFound: 0x0a,
  OpaqueNoMatch: 0x0b,
  AuthStale: 0x1f,
  AuthError: 0x20,
  AuthContinue: 0x21,
  Erange: 0x22,
  Rollback: 0x23,
  Eaccess: 0x24,
  NotInitialized: 0x25,
  UnknownFrameInfo: 0x80,
  UnknownCommand: 0x81,
  Enomem: 0x82,
  NotSupported: 0x83,
  Einternal: 0x84,
  Ebusy: 0x85,
  Etmpfail: 0x86,
  XattrEinval: 0x87,
  UnknownCollection: 0x88,
  NoCollectionsManifest: 0x89,
  CannotApplyCollectionsManifest: 0x8a,
  CollectionsManifestIsAhead: 0x8b,
  UnknownScope: 0x8c,
  DcpStreamIdInvalid: 0x8d,
  DurabilityInvalidLevel: 0xa0,
  DurabilityImpossible: 0xa1,
  SyncWriteInProgress: 0xa2,
  SyncWriteAmbiguous: 0xa3,
  SyncWriteReCommitInProgress: 0xa4,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/** Header byte 5, a bit set. 0 = raw bytes. */
export const Datatype = {
  Raw: 0x00,
  Json: 0x01,
  Snappy: 0x02,
  Xattr: 0x04,
} as const;
export type Datatype = (typeof Datatype)[keyof typeof Datatype];

/** HELLO feature codes (u16); 0x01–0x20 checked against kv_engine include/mcbp/protocol/feature.h. */
export const HelloFeature = {
  Datatype: 0x01,
  Tls: 0x02,
  TcpNoDelay: 0x03,
  MutationSeqno: 0x04,
  TcpDelay: 0x05,
  Xattr: 0x06,
  Xerror: 0x07,
  SelectBucket: 0x08,
  Invalid2: 0x09,
  Snappy: 0x0a,
  Json: 0x0b,
  Duplex: 0x0c,
  ClustermapChangeNotification: 0x0d,
  UnorderedExecution: 0x0e,
  Tracing: 0x0f,
  AltRequestSupport: 0x10,
  SyncReplication: 0x11,
  Collections: 0x12,
  SnappyEverywhere: 0x13,
  PreserveTtl: 0x14,
  VAttr: 0x15,
  PiTR: 0x16,
  SubdocCreateAsDeleted: 0x17,
  SubdocDocumentMacroSupport: 0x18,
  SubdocReplaceBodyWithXattr: 0x19,
  ReportUnitUsage: 0x1a,
  NonBlockingThrottlingMode: 0x1b,
  SubdocReplicaRead: 0x1c,
  GetClusterConfigWithKnownVersion: 0x1d,
  DedupeNotMyVbucketClustermap: 0x1e,
  ClustermapChangeNotificationBrief: 0x1f,
  SubdocAllowsAccessOnMultipleXattrKeys: 0x20,
  // 0x21–0x25: informational subdoc/range-scan features (names not verified against kv_engine here).
  /** Per the digest (kv_engine master); pairs with DcpOpenFlag.SkipDeletesInInitialBackfill. */
  DcpSkipDeletesInInitialBackfill: 0x26,
} as const;
export type HelloFeature = (typeof HelloFeature)[keyof typeof HelloFeature];

/** DCP_OPEN flags (extras +4, u32). */
export const DcpOpenFlag = {
  Producer: 0x001,
  /** Old "notifier" bit; kv_engine rejects it. */
  Invalid: 0x002,
  IncludeXattrs: 0x004,
  NoValue: 0x008,
  Unused: 0x010,
  /** Deletions arrive as DELETION v2 (with delete time). */
  IncludeDeleteTimes: 0x020,
  NoValueWithUnderlyingDatatype: 0x040,
  PiTR: 0x080,
  IncludeDeletedUserXattrs: 0x100,
  SkipDeletesInInitialBackfill: 0x200,
} as const;
export type DcpOpenFlag = (typeof DcpOpenFlag)[keyof typeof DcpOpenFlag];

/** DCP_STREAM_END reason (extras u32). */
export const DcpStreamEndReason = {
  Ok: 0,
  Closed: 1,
  StateChanged: 2,
  Disconnected: 3,
  Slow: 4,
  BackfillFail: 5,
  Rollback: 6,
  FilterEmpty: 7,
  LostPrivileges: 8,
} as const;
export type DcpStreamEndReason = (typeof DcpStreamEndReason)[keyof typeof DcpStreamEndReason];

/** DCP_SNAPSHOT_MARKER flags (u32). */
export const DcpSnapshotFlag = {
  Memory: 0x01,
  Disk: 0x02,
  Checkpoint: 0x04,
  Ack: 0x08,
  History: 0x10,
  MayContainDuplicates: 0x20,
} as const;
export type DcpSnapshotFlag = (typeof DcpSnapshotFlag)[keyof typeof DcpSnapshotFlag];

/** DCP_STREAM_REQ flags (extras +0, u32). */
export const DcpStreamReqFlag = {
  Takeover: 0x01,
  DiskOnly: 0x02,
  ToLatest: 0x04,
  NoValue: 0x08,
  ActiveVbOnly: 0x10,
  StrictVbUuid: 0x20,
  FromLatest: 0x40,
  IgnorePurgedTombstones: 0x80,
  CacheTransfer: 0x100,
} as const;
export type DcpStreamReqFlag = (typeof DcpStreamReqFlag)[keyof typeof DcpStreamReqFlag];

/** vbucket states (DCP_SET_VBUCKET_STATE, GET_ALL_VB_SEQNOS filter). */
export const VbucketState = {
  Alive: 0,
  Active: 1,
  Replica: 2,
  Pending: 3,
  Dead: 4,
} as const;
export type VbucketState = (typeof VbucketState)[keyof typeof VbucketState];

/** DCP_SYSTEM_EVENT event ids (extras +8, u32). */
export const DcpSystemEventId = {
  CollectionCreate: 0,
  CollectionDrop: 1,
  ScopeCreate: 3,
  ScopeDrop: 4,
  CollectionModify: 5,
} as const;
export type DcpSystemEventId = (typeof DcpSystemEventId)[keyof typeof DcpSystemEventId];

/** DCP_OSO_SNAPSHOT flags (extras u32). */
export const DcpOsoSnapshotFlag = {
  Start: 0x01,
  End: 0x02,
} as const;
export type DcpOsoSnapshotFlag = (typeof DcpOsoSnapshotFlag)[keyof typeof DcpOsoSnapshotFlag];

/** Framing-extras ids in requests (magic 0x08). */
export const RequestFrameInfoId = {
  Barrier: 0,
  DurabilityRequirement: 1,
  DcpStreamId: 2,
  OpenTracingContext: 3,
  Impersonate: 4,
  PreserveTtl: 5,
  ImpersonateExtraPrivilege: 6,
  ImpersonateToken: 7,
} as const;
export type RequestFrameInfoId = (typeof RequestFrameInfoId)[keyof typeof RequestFrameInfoId];

/** Framing-extras ids in responses (magic 0x18). */
export const ResponseFrameInfoId = {
  ServerDuration: 0,
  ReadUnits: 1,
  WriteUnits: 2,
  ThrottleDuration: 3,
} as const;
export type ResponseFrameInfoId = (typeof ResponseFrameInfoId)[keyof typeof ResponseFrameInfoId];

/** Size of every header. */
export const HEADER_BYTES = 24;
/** Largest document kv_engine accepts (20 MiB). */
export const MAX_ITEM_BYTES = 20 * 1024 * 1024;
/** FrameDecoder's default limit: one maximal item plus its header. */
export const DEFAULT_MAX_FRAME_BYTES = MAX_ITEM_BYTES + HEADER_BYTES;
/**
 * The "forever" end seqno (u64 0xFFFFFFFFFFFFFFFF on the wire) as a JS number. Decoders return it
 * for the all-ones u64; encoders write all-ones for it (and for Infinity).
 */
export const SEQNO_FOREVER = Number.MAX_SAFE_INTEGER;
