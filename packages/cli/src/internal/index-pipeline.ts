import {
  type ChangesServer,
  createChangesServer,
  createChannelIndex,
  createUserStore,
} from '@tributary/channel-index';
import type { Logger, Store } from '@tributary/core';
import { type BucketDataSource, createBucketDataSource } from '@tributary/datasource';
import { createMetrics } from '@tributary/metrics';
import { createLmdbStore } from '@tributary/store-lmdb';
import { createMemoryStore } from '@tributary/store-memory';
import { StatusServer } from '../status/status-server.js';
import { VERSION } from '../version.js';

export interface IndexPipelineOptions {
  clusterUrl: string;
  bucket: string;
  user: { username: string; password: string };
  /** LMDB directory; undefined = memory store. */
  storePath?: string;
  host: string;
  changesPort: number;
  /** A port of its own for the status page and /metrics; undefined = on the `_changes` port. */
  statusPort?: number;
  db: string;
  title: string;
  /** The producer's high seqnos when known exactly (the demo's embedded cluster): the lag is then exact. */
  producerHighSeqnos?: () => readonly number[];
  /** /readyz answers 503 past this lag, and the page says "catching up" (default 10 s). */
  readyMaxLagSeconds?: number;
  logger?: Logger;
  onError(err: unknown): void;
}

export interface IndexPipeline {
  changesUrl: string;
  statusUrl: string;
  status: StatusServer;
  dataSource: BucketDataSource;
  changes: ChangesServer;
  close(): Promise<void>;
}

/** datasource → channel index on a store → `_changes` server, plus the status page. */
export async function startIndexPipeline(o: IndexPipelineOptions): Promise<IndexPipeline> {
  const metrics = createMetrics({ processMetrics: true, version: VERSION });
  const store: Store = o.storePath
    ? createLmdbStore({ path: o.storePath, metrics })
    : createMemoryStore({ metrics });
  const cleanups: (() => Promise<void>)[] = [async () => store.close()];
  const closeAll = async () => {
    for (const f of cleanups.reverse()) {
      try {
        await f();
      } catch (err) {
        o.onError(err);
      }
    }
    cleanups.length = 0;
  };
  let status: StatusServer | undefined;
  const onError = (err: unknown) => {
    status?.noteError(err);
    o.onError(err);
  };
  try {
    const index = createChannelIndex({ store, metrics, logger: o.logger, onError });
    cleanups.push(() => index.close());
    const users = createUserStore({ store });
    const changes = createChangesServer({
      databases: { [o.db]: { index, users } },
      admin: o.user,
      metrics,
      logger: o.logger,
    });
    cleanups.push(() => changes.close());
    const dataSource = createBucketDataSource({
      serverUrls: [o.clusterUrl],
      bucketName: o.bucket,
      auth: o.user,
      receiver: index,
      options: { metrics, logger: o.logger, seqnoPollIntervalMs: 1000 },
    });
    cleanups.push(() => dataSource.close());
    status = new StatusServer({
      title: o.title,
      bucket: o.bucket,
      index,
      dataSource,
      metrics,
      store,
      producerHighSeqnos: o.producerHighSeqnos,
      readyMaxLagSeconds: o.readyMaxLagSeconds,
      host: o.host,
      port: o.statusPort,
      logger: o.logger,
    });
    const st = status;
    cleanups.push(() => st.close());
    if (o.statusPort === undefined) status.mount(changes.app);
    const { url } = await changes.listen({ host: o.host, port: o.changesPort });
    let statusBase = url;
    if (o.statusPort === undefined) status.start();
    else statusBase = await status.listen();
    await dataSource.start();
    // (a first snapshot with the connection made, for a page opened before the next tick)
    status.model.tick();
    return {
      changesUrl: `${url}/${o.db}/_changes`,
      statusUrl: `${statusBase}/status`,
      status,
      dataSource,
      changes,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
