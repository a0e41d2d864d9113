import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const memoryStoreOptionsSchema = z
  .object({
    /** Entries a scan copies out per step (default 256). */
    scanPageSize: z.number().int().min(1).max(100_000).default(256),
    /** A scan step stops early once its values reach this many bytes (default 4 MiB). */
    scanPageBytes: z
      .number()
      .int()
      .min(1)
      .default(4 * 1024 * 1024),
    /** Distinct keys a watcher may fall behind before it ends with TRIB_STORE_WATCH_OVERFLOW. */
    maxWatchPending: z.number().int().min(1).default(10_000),
  })
  .strict();

export type MemoryStorePluginOptions = z.output<typeof memoryStoreOptionsSchema>;

export const parseMemoryStoreOptions = optionsParser('memory', memoryStoreOptionsSchema);
