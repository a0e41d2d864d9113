import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const scramOptionsSchema = z
  .object({
    iterations: z.number().int().min(1).default(4096),
    hashes: z
      .array(z.enum(['SHA-512', 'SHA-256', 'SHA-1']))
      .min(1)
      .default(['SHA-512', 'SHA-256', 'SHA-1']),
    /** Base64 secret for unknown users' fake salts (stable across restarts when set). */
    serverSecret: z.string().min(1).optional(),
    minIterations: z.number().int().min(1).default(4096),
    maxIterations: z.number().int().min(1).default(1_000_000),
  })
  .strict();

export type ScramPluginOptions = z.output<typeof scramOptionsSchema>;

export const parseScramOptions = optionsParser('scram', scramOptionsSchema);
