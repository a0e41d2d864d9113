import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const postgresStoreOptionsSchema = z
  .object({
    /** Default DATABASE_URL, else the PG* variables, else postgres://root@127.0.0.1:5432/test. */
    connectionString: z.string().min(1).optional(),
    /** Table for this store's rows (default "tributary_store"). */
    table: z
      .string()
      .regex(
        /^[A-Za-z_][A-Za-z0-9_]{0,47}$/,
        'letters, digits and _ only, not starting with a digit, at most 48 chars',
      )
      .optional(),
    poolSize: z.number().int().min(1).max(100).default(4),
    connectTimeoutMs: z.number().int().positive().default(5000),
    /** A query without a reply after this long rejects with TRIB_STORE_UNAVAILABLE (default 30 s). */
    queryTimeoutMs: z.number().int().positive().default(30_000),
    scanPageSize: z.number().int().min(1).max(100_000).default(512),
    scanPageBytes: z
      .number()
      .int()
      .min(1)
      .default(4 * 1024 * 1024),
    maxWatchPending: z.number().int().min(1).default(10_000),
  })
  .strict();

export type PostgresStorePluginOptions = z.output<typeof postgresStoreOptionsSchema>;

export const parsePostgresStoreOptions = optionsParser('postgres', postgresStoreOptionsSchema);
