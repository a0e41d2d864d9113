import type { Logger, RepeatLog, SaslServer } from '@tributary/core';
import type { Bucket } from '../bucket.js';
import type { SyncWrites } from './durability.js';
import type { Replication } from './replication.js';

/** What a data-node connection needs from the cluster. */
export interface NodeContext {
  readonly index: number;
  readonly cluster: ClusterCore;
  readonly log: Logger;
}

export type VbRole = 'active' | 'replica';

export interface SessionStats {
  connections: { inc(n?: number): void; dec(n?: number): void };
  requests: { inc(n?: number): void };
  malformed: { inc(n?: number): void };
  authFailures: { inc(n?: number): void };
  authTimeouts: { inc(n?: number): void };
  dcpMessages: { inc(n?: number): void };
  dcpBytes: { inc(n?: number): void };
  dcpStreams: { inc(n?: number): void; dec(n?: number): void };
  dcpStalls: { inc(n?: number): void };
  dcpIdleDrops: { inc(n?: number): void };
  dcpStreamsRefused: { inc(n?: number): void };
  /** Connections closed for a frame over the pre-authentication size cap. */
  preauthFramesRefused: { inc(n?: number): void };
  /** Connections closed at once: no connection slot left within the fd limit. */
  connectionsRefused: { inc(n?: number): void };
}

export interface ClusterCore {
  readonly buckets: ReadonlyMap<string, Bucket>;
  readonly numVbuckets: number;
  readonly allowInsecurePlain: boolean;
  readonly dcpIdleTimeoutMs: number;
  /** DCP streams one connection may hold; one more STREAM_REQ gets ENOMEM. */
  readonly dcpMaxStreams: number;
  /** An unauthenticated connection is closed this long after connecting. */
  readonly authTimeoutMs: number;
  readonly sessionStats: SessionStats;
  /** Per-connection events of every session (malformed frames, auth timeouts), logged once with a count. */
  readonly repeats: RepeatLog;
  /** Largest frame read from a connection before SASL succeeds. */
  readonly preauthMaxFrameBytes: number;
  /** SASL mechanisms offered on a connection. */
  mechanisms(secure: boolean): string[];
  /** A SASL server for `mechanism`, or undefined when not offered. */
  saslServer(mechanism: string, secure: boolean): SaslServer | undefined;
  /** This node's role for a vbucket (undefined: not here). */
  role(node: number, vb: number): VbRole | undefined;
  /** Bucket config JSON as node `node` serves it, `$HOST` replaced by `host`. */
  configJson(bucket: string, node: number, host: string): string;
  /** The cluster config (no bucket selected: GCCCP) as node `node` serves it. */
  clusterConfigJson(node: number, host: string): string;
  /** Replica copies of the vbuckets. */
  readonly replication: Replication;
  /** Durable writes in flight. */
  readonly syncWrites: SyncWrites;
  /** The highest seqno of `vb` node `node` holds: the active's, or what its replica copy has. */
  visibleSeqno(bucket: Bucket, vb: number, node: number): number;
  readonly rev: number;
  readonly revEpoch: number;
  /** Connections register to receive config pushes and topology events. */
  attach(node: number, s: SessionHandle): void;
  /** Registers a DCP connection name; returns the session that held it before (to be kicked). */
  claimDcpName(node: number, bucket: string, name: string, s: SessionHandle): SessionHandle | undefined;
  releaseDcpName(node: number, bucket: string, name: string, s: SessionHandle): void;
  detach(node: number, s: SessionHandle): void;
}

export interface SessionHandle {
  /** Config changed (rev rose): duplex clients with change notifications get a push. */
  configChanged(bucket: string): void;
  /** The vbucket left this node or changed role here: its DCP streams end with state-changed. */
  vbucketChanged(bucket: string, vb: number): void;
  /** Hard close (node stopped). */
  destroy(): void;
}
