import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const memoryOptionsSchema = z
  .object({
    secure: z.boolean().default(false),
    highWaterMark: z
      .number()
      .int()
      .min(1)
      .default(64 * 1024),
    backlog: z.number().int().min(1).default(511),
    allowHalfOpen: z.boolean().default(false),
    connectTimeoutMs: z.number().int().min(0).default(10_000),
  })
  .strict();

export type MemoryPluginOptions = z.output<typeof memoryOptionsSchema>;

export const parseMemoryOptions = optionsParser('memory', memoryOptionsSchema);
