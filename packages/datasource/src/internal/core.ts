import type { AuthProvider, ConnectionFactory, Logger } from '@tributary/core';
import type { Counter } from '@tributary/metrics';
import type { ResolvedOptions } from '../options.js';
import type { Receiver } from '../receiver.js';
import type { StatName } from '../stats.js';
import type { DcpConnection } from './dcp-connection.js';
import type { NodeWorker } from './node-worker.js';
import type { VBucket } from './vbucket.js';

/** What a NodeWorker needs from its datasource (implemented by the BucketDataSource class). */
export interface DataSourceCore {
  readonly opts: ResolvedOptions;
  readonly receiver: Receiver;
  readonly log: Logger;
  readonly s: Record<StatName, Counter>;
  readonly bucketName: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly mechanism: string | undefined;
  readonly signal: AbortSignal;
  readonly vbs: VBucket[];
  readonly owner: (NodeWorker | null)[];
  /** Collections streams (undefined: collections off). */
  readonly collections: import('../collections/collections-tracker.js').CollectionsTracker | undefined;
  /** The stream-request filter for `vbs` (null: its scope does not exist yet; it waits). */
  streamFilterFor(
    vbs: VBucket,
    manifestUid: number | undefined,
  ): import('../collections/collections-tracker.js').ServerFilter;
  /** A newer collections manifest was applied. */
  manifestChanged(): void;
  authProviders(): AuthProvider[];
  factoryFor(tls: boolean): ConnectionFactory;
  nextOpaque(): number;
  reportError(err: Error): void;
  kick(reason: string): void;
  /** Delivers a counted DCP message for `vbs` (stream opaque already checked). */
  deliver(vbs: VBucket, p: import('@tributary/codec').WirePacket, conn: DcpConnection, bytes: number): void;
  enqueueTask(vbs: VBucket, opaque: number, name: string, task: () => unknown): void;
  vbIdle(vbs: VBucket, delayMs?: number): void;
  nextRetryDelay(vbs: VBucket): number;
  setMeta(vbs: VBucket, meta: import('../metadata.js').VBucketMetaData): unknown;
  doRollback(vbs: VBucket, rollbackSeq: number): unknown;
}
