import {
  type BucketDataSource,
  type CreateBucketDataSourceParams,
  createBucketDataSource,
} from './bucket-data-source.js';
import { createStoreCheckpoints, memoryCheckpointStore, type StoreCheckpoints } from './checkpoints.js';
import type { CollectionEvent, DcpRequest } from './receiver.js';
import type { BucketDataSourceStats } from './stats.js';

export type StreamEvent =
  | {
      type: 'mutation' | 'deletion' | 'expiration';
      vbucket: number;
      key: Buffer;
      seq: number;
      req: DcpRequest;
      /** Scope and collection names (collections streams: `options.collections` set). */
      scope?: string;
      collection?: string;
    }
  | { type: 'collection'; vbucket: number; seq: number; event: CollectionEvent }
  | { type: 'snapshot'; vbucket: number; snapStart: number; snapEnd: number; snapType: number }
  | { type: 'rollback'; vbucket: number; seq: number; vbucketUuid: bigint }
  | { type: 'error'; error: Error };

export interface StreamBucketParams extends Omit<CreateBucketDataSourceParams, 'receiver'> {
  /** Where checkpoints live (resume after restart). Default: in memory (every run starts from 0). */
  checkpoints?: StoreCheckpoints;
  /** Also yield snapshot markers. Default false. */
  snapshots?: boolean;
  /** Aborting ends the iteration (and closes the datasource). */
  signal?: AbortSignal;
  /** Most error events kept while the consumer is not reading (older ones are dropped). Default 100. */
  maxPendingErrors?: number;
}

export interface BucketStream extends AsyncIterableIterator<StreamEvent> {
  stats(): BucketDataSourceStats;
  close(): Promise<void>;
}

/** `scope` / `collection` of an event, present only on collections streams. */
function names(req: DcpRequest): { scope?: string; collection?: string } {
  if (req.collectionId === undefined) return {};
  return { scope: req.scope, collection: req.collection };
}

interface Pending {
  ev: StreamEvent;
  done?: () => void;
}

/**
 * The datasource as an async iterator of events, with the same guarantees: per-vbucket order, no
 * loss, resume from checkpoints. An event counts as finished (its checkpoint may advance and its
 * vbucket moves on) when the consumer asks for the next one. At most one data event per vbucket
 * is buffered; keys and values are views valid until then (copy to keep).
 */
export function streamBucket(params: StreamBucketParams): BucketStream {
  const { checkpoints: ck, snapshots = false, signal, maxPendingErrors = 100, ...rest } = params;
  const checkpoints = ck ?? createStoreCheckpoints(memoryCheckpointStore());
  const buf: Pending[] = [];
  let head = 0;
  let waiter: ((r: IteratorResult<StreamEvent>) => void) | undefined;
  let prevDone: (() => void) | undefined;
  let ended = false;
  let errors = 0;

  const push = (ev: StreamEvent, hold: boolean): Promise<void> | undefined => {
    if (ended) return undefined;
    if (!hold) {
      if (ev.type === 'error') {
        if (errors >= maxPendingErrors) return undefined;
        errors++;
      }
      deliver({ ev });
      return undefined;
    }
    return new Promise<void>((resolve) => deliver({ ev, done: resolve }));
  };
  const deliver = (p: Pending) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      if (p.ev.type === 'error') errors--;
      prevDone = p.done;
      w({ value: p.ev, done: false });
      return;
    }
    buf.push(p);
  };

  const ds: BucketDataSource = createBucketDataSource({
    ...rest,
    receiver: checkpoints.receiver({
      onError: (error) => void push({ type: 'error', error }, false),
      dataUpdate: (vbucket, key, seq, req) =>
        push({ type: 'mutation', vbucket, key, seq, req, ...names(req) }, true),
      dataDelete: (vbucket, key, seq, req) =>
        push(
          {
            type: req.kind === 'expiration' ? 'expiration' : 'deletion',
            vbucket,
            key,
            seq,
            req,
            ...names(req),
          },
          true,
        ),
      collectionEvent: (vbucket, seq, event) => push({ type: 'collection', vbucket, seq, event }, true),
      snapshotStart: snapshots
        ? (vbucket, snapStart, snapEnd, snapType) =>
            push({ type: 'snapshot', vbucket, snapStart, snapEnd, snapType }, true)
        : undefined,
      rollbackEx: (vbucket, vbucketUuid, seq) => push({ type: 'rollback', vbucket, seq, vbucketUuid }, true),
    }),
  });

  const finish = async () => {
    if (ended) return;
    ended = true;
    prevDone?.();
    prevDone = undefined;
    for (let i = head; i < buf.length; i++) buf[i]?.done?.();
    buf.length = 0;
    head = 0;
    const w = waiter;
    waiter = undefined;
    w?.({ value: undefined, done: true });
    await ds.close();
    await checkpoints.flush();
  };
  const onAbort = () => void finish();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) ended = true;
  else void ds.start();

  const it: BucketStream = {
    next(): Promise<IteratorResult<StreamEvent>> {
      const d = prevDone;
      prevDone = undefined;
      d?.();
      if (head < buf.length) {
        const p = buf[head]!;
        buf[head++] = undefined as unknown as Pending;
        if (head === buf.length) {
          buf.length = 0;
          head = 0;
        }
        if (p.ev.type === 'error') errors--;
        prevDone = p.done;
        return Promise.resolve({ value: p.ev, done: false });
      }
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiter = resolve;
      });
    },
    async return(): Promise<IteratorResult<StreamEvent>> {
      signal?.removeEventListener('abort', onAbort);
      await finish();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
    stats: () => ds.stats(),
    close: async () => {
      signal?.removeEventListener('abort', onAbort);
      await finish();
    },
  };
  return it;
}
