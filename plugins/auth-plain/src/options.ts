import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const plainOptionsSchema = z
  .object({
    allowInsecurePlain: z.boolean().default(false),
    iterations: z.number().int().min(1).default(4096),
  })
  .strict();

export type PlainPluginOptions = z.output<typeof plainOptionsSchema>;

export const parsePlainOptions = optionsParser('plain', plainOptionsSchema);
