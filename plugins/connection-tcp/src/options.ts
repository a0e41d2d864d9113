import { optionsParser } from '@tributary/core';
import { z } from 'zod';

export const tcpOptionsSchema = z
  .object({
    /** TCP_NODELAY on every socket (default true). */
    noDelay: z.boolean().default(true),
    /** SO_KEEPALIVE on every socket (default true). */
    keepAlive: z.boolean().default(true),
    /** Idle time before the first keep-alive probe (default 30 s). */
    keepAliveInitialDelayMs: z.number().int().min(0).default(30_000),
    /** Used when `connect()` is given no `timeoutMs` (default 10 s; 0 = no timeout). */
    connectTimeoutMs: z.number().int().min(0).default(10_000),
    /** listen() backlog (default 511, node's default). */
    backlog: z.number().int().min(0).default(511),
    /** Keep the writable side open after the peer ends (default false). */
    allowHalfOpen: z.boolean().default(false),
  })
  .strict();

export type TcpPluginOptions = z.output<typeof tcpOptionsSchema>;

export const parseTcpOptions = optionsParser('tcp', tcpOptionsSchema);
