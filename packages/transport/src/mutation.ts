/** One document change carried downstream. Seqnos are numbers (<= 2^53-1); vbuuid and cas are bigint. */
export interface Mutation {
  vbucket: number;
  seqno: number;
  vbuuid: bigint;
  key: Buffer;
  value: Buffer;
  kind: 'mutation' | 'deletion' | 'expiration';
  cas: bigint;
  flags: number;
  expiry: number;
}

/** Mutations of one vbucket, in seqno order, as the server hands them to the application. */
export interface MutationBatch {
  type: 'batch';
  vbucket: number;
  mutations: Mutation[];
}

export interface BeginVbucketEvent {
  type: 'begin';
  vbucket: number;
  vbuuid: bigint;
  /** Mutations of this vbucket follow this seqno. */
  startSeqno: number;
}
export interface EndVbucketEvent {
  type: 'end';
  vbucket: number;
  vbuuid: bigint;
  /** Highest seqno delivered for the vbucket. */
  lastSeqno: number;
}
export interface SnapshotEvent {
  type: 'snapshot';
  vbucket: number;
  vbuuid: bigint;
  start: number;
  end: number;
  flags: number;
}
export interface MutationStreamErrorEvent {
  type: 'error';
  error: import('@tributary/core').TributaryError;
  vbucket?: number;
  /** Remote address:port of the connection concerned. */
  remote?: string;
}

/** What the server publishes, in order per vbucket. */
export type MutationStreamEvent =
  | MutationBatch
  | BeginVbucketEvent
  | EndVbucketEvent
  | SnapshotEvent
  | MutationStreamErrorEvent;
