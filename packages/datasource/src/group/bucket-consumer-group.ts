import type { Store } from '@tributary/core';
import { type CreateBucketDataSourceParams, createBucketDataSource } from '../bucket-data-source.js';
import { createStoreCheckpoints, type DataReceiver } from '../checkpoints.js';
import { fetchClusterMap } from '../cluster-map.js';
import type { Receiver } from '../receiver.js';
import { ConsumerGroup, type ConsumerGroupOptions, ErrGroupOptions } from './consumer-group.js';

export interface CreateConsumerGroupParams extends Omit<ConsumerGroupOptions, 'createStreamer' | 'vbuckets'> {
  /**
   * createBucketDataSource's parameters without `vbucketIds` (the group decides those). Give a
   * data-only receiver (dataUpdate/dataDelete, like createStoreCheckpoints' DataReceiver): the group
   * keeps its checkpoints in the shared `store`, so whichever member owns a vbucket next resumes
   * from the last one written. A full Receiver (with getMetaData) keeps its own metadata instead;
   * it must then be shared across members for handover to resume rather than restart.
   */
  datasource: Omit<CreateBucketDataSourceParams, 'vbucketIds' | 'receiver'> & {
    receiver: DataReceiver | Receiver;
  };
  /** Number of vbuckets in the bucket; read from the cluster map when omitted. */
  vbuckets?: number;
}

async function flushWithin(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))])
    .catch(() => undefined) // an unwritten checkpoint only means a longer replay for the next owner
    .finally(() => clearTimeout(timer));
}

function isFullReceiver(r: DataReceiver | Receiver): r is Receiver {
  return (
    typeof (r as Receiver).getMetaData === 'function' && typeof (r as Receiver).setMetaData === 'function'
  );
}

async function vbucketCount(p: CreateConsumerGroupParams['datasource']): Promise<number> {
  let last: unknown;
  for (const url of p.serverUrls) {
    try {
      const map = await fetchClusterMap(url, {
        poolName: p.poolName ?? 'default',
        bucketName: p.bucketName,
        username: p.auth?.username,
        password: p.auth?.password,
        timeoutMs: 10_000,
      });
      return map.numVbuckets;
    } catch (err) {
      last = err;
    }
  }
  throw ErrGroupOptions(`cannot read the vbucket count from ${p.serverUrls.join(', ')}`, { cause: last });
}

/**
 * A consumer group over one bucket: each member streams only its share of the vbuckets with a
 * datasource of its own, checkpoints in the shared store, and takes over a departed member's share
 * from that member's checkpoints. See ConsumerGroup for the ownership rules.
 */
export function createConsumerGroup(params: CreateConsumerGroupParams): ConsumerGroup {
  const { datasource, store, vbuckets, ...rest } = params;
  if (!datasource?.receiver) throw ErrGroupOptions('datasource.receiver is required');
  const shared: Store = store;
  const flushMs = Math.max(100, Math.floor((rest.leaseMs ?? 15_000) / 3));
  return new ConsumerGroup({
    ...rest,
    store,
    vbuckets: vbuckets ?? (() => vbucketCount(datasource)),
    createStreamer: (vbucketIds, checkpointPrefix) => {
      const checkpoints = isFullReceiver(datasource.receiver)
        ? undefined
        : createStoreCheckpoints(shared, { prefix: checkpointPrefix });
      const receiver = checkpoints
        ? checkpoints.receiver(datasource.receiver)
        : (datasource.receiver as Receiver);
      const ds = createBucketDataSource({ ...datasource, vbucketIds, receiver });
      return {
        start: () => ds.start(),
        // Closing waits for the streams to stop; the flush then records exactly where they
        // stopped, so the next owner neither misses nor repeats anything this member finished.
        close: async () => {
          await ds.close();
          // Bounded: with the store unreachable the revocation must not wait on it. The next owner
          // then resumes from the last checkpoint written (at most one snapshot per vbucket again).
          if (checkpoints) await flushWithin(checkpoints.flush(), flushMs);
        },
        stats: () => ds.stats(),
      };
    },
  });
}
