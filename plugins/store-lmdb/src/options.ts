import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const lmdbStoreOptionsSchema = z
  .object({
    /** Directory of the LMDB environment (created when missing). */
    path: z.string().min(1),
    /** Skip fsync on commit (default false). */
    noSync: z.boolean().default(false),
    /** Initial map size in bytes; LMDB grows it as needed. */
    mapSize: z.number().int().positive().optional(),
    /** Entries a scan reads per read transaction (default 1,024). */
    scanPageSize: z.number().int().min(1).max(100_000).default(1024),
    /** Distinct keys a watcher may fall behind before it ends with TRIB_STORE_WATCH_OVERFLOW. */
    maxWatchPending: z.number().int().min(1).default(10_000),
  })
  .strict();

export type LmdbStorePluginOptions = z.output<typeof lmdbStoreOptionsSchema>;

export const parseLmdbStoreOptions = optionsParser('lmdb', lmdbStoreOptionsSchema);
