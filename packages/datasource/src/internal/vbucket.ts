import type { WirePacket } from '@tributary/codec';
import { emptyMetaData, type VBucketMetaData } from '../metadata.js';
import type { VBucketStateName } from '../stats.js';
import type { DcpConnection } from './dcp-connection.js';
import type { NodeWorker } from './node-worker.js';

/** One unit of in-order work for a vbucket: a received packet, or a task (metadata, rollback, request). */
export interface QueueItem {
  p: WirePacket | null;
  conn: DcpConnection | null;
  /** Flow-control bytes to finish once done (0 for tasks). */
  bytes: number;
  /** The stream opaque it belongs to; a mismatch at run time means stale (dropped). 0 = always run. */
  opaque: number;
  task: (() => unknown) | null;
  name: string;
}

/**
 * Per-vbucket state, shared by every worker: the stream state machine ('' → requested → running →
 * closing → ''), the snapshot being received, the cached metadata, and the serial queue that keeps
 * receiver calls in order while a receiver promise is pending.
 */
export class VBucket {
  readonly id: number;
  state: VBucketStateName = '';
  worker: NodeWorker | null = null;
  conn: DcpConnection | null = null;
  /** Opaque of the current stream request; 0 when no stream is wanted on the wire. */
  opaque = 0;
  /** Start seqno of the current stream request. */
  reqStart = 0;
  snapStart = 0;
  snapEnd = 0;
  /** cbdatasource's SnapSaved: the current snapshot range is in the persisted metadata. */
  snapSaved = true;
  /** Last seqno the receiver finished. */
  lastSeq = 0;
  highSeqno = 0;
  vbucketUuid = 0n;
  meta: VBucketMetaData = emptyMetaData();
  /** True while a receiver promise for this vbucket is pending. */
  busy = false;
  queue: (QueueItem | undefined)[] = [];
  head = 0;
  retryMs = 0;
  retryTimer: NodeJS.Timeout | null = null;
  /** Reached its seqEnd: never re-requested. */
  ended = false;

  constructor(id: number) {
    this.id = id;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }
}
