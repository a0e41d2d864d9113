import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const redisStoreOptionsSchema = z
  .object({
    /** Redis URL; default REDIS_URL, else redis://127.0.0.1:6379. */
    url: z.string().url().optional(),
    /** Prefix of this store's Redis keys (default "tributary:store:"). */
    prefix: z.string().min(1).optional(),
    connectTimeoutMs: z.number().int().positive().default(5000),
    /** A command without a reply after this long rejects with TRIB_STORE_UNAVAILABLE (default 30 s). */
    commandTimeoutMs: z.number().int().positive().default(30_000),
    scanPageSize: z.number().int().min(1).max(100_000).default(512),
    scanPageBytes: z
      .number()
      .int()
      .min(1)
      .default(4 * 1024 * 1024),
    maxWatchPending: z.number().int().min(1).default(10_000),
  })
  .strict();

export type RedisStorePluginOptions = z.output<typeof redisStoreOptionsSchema>;

export const parseRedisStoreOptions = optionsParser('redis', redisStoreOptionsSchema);
