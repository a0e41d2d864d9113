import type { WirePacket } from '@tributary/codec';
import { emptyMetaData, type VBucketMetaData } from '../metadata.js';
import type { VBucketStateName } from '../stats.js';
import type { DcpConnection } from './dcp-connection.js';
import type { NodeWorker } from './node-worker.js';

const HIGH_SAMPLES = 16;

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
  /**
   * When we learnt the producer had a seqno: [seqno, performance.now()] pairs, oldest first, at
   * most HIGH_SAMPLES. The oldest one past lastSeq says how long the receiver has been behind.
   */
  readonly #seen: number[] = [];

  constructor(id: number) {
    this.id = id;
  }

  /**
   * The producer has `seqno` (a GET_ALL_VB_SEQNOS reply sets it, `exact`; a snapshot marker's end
   * or a received seqno only raises it).
   */
  noteHigh(seqno: number, now: number, exact = false): void {
    if (exact || seqno > this.highSeqno) this.highSeqno = seqno;
    const seen = this.#seen;
    if (seqno <= this.lastSeq) return;
    if (seen.length && seqno <= seen[seen.length - 2]!) return;
    // Full: the newest sample moves up (the oldest, which sets the lag, stays).
    if (seen.length >= 2 * HIGH_SAMPLES) seen[seen.length - 2] = seqno;
    else seen.push(seqno, now);
  }

  /** Seconds since the producer had a seqno the receiver has not finished (0 when caught up). */
  lagSeconds(now: number): number {
    const seen = this.#seen;
    let drop = 0;
    while (drop < seen.length && seen[drop]! <= this.lastSeq) drop += 2;
    if (drop) seen.splice(0, drop);
    if (this.lastSeq >= this.highSeqno || seen.length === 0) return 0;
    return Math.max(0, (now - seen[1]!) / 1000);
  }

  get queued(): number {
    return this.queue.length - this.head;
  }
}
