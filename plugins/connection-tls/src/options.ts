import { readFileSync } from 'node:fs';
import { optionsParser } from '@tributary/core';
import { z } from 'zod';
import type { TlsFactoryOptions } from './tls-factory.js';

const pem = z.union([z.string().min(1), z.array(z.string().min(1))]);

export const tlsOptionsSchema = z
  .object({
    /** PEM text, or a path in the *File variants (read once at create). */
    ca: pem.optional(),
    caFile: z.string().min(1).optional(),
    cert: pem.optional(),
    certFile: z.string().min(1).optional(),
    key: pem.optional(),
    keyFile: z.string().min(1).optional(),
    servername: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
    requestCert: z.boolean().default(false),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    connectTimeoutMs: z.number().int().min(0).default(10_000),
    handshakeTimeoutMs: z.number().int().min(1).default(10_000),
    noDelay: z.boolean().default(true),
    keepAlive: z.boolean().default(true),
    keepAliveInitialDelayMs: z.number().int().min(0).default(30_000),
    backlog: z.number().int().min(0).default(511),
    allowHalfOpen: z.boolean().default(false),
  })
  .strict();

export type TlsPluginOptions = z.output<typeof tlsOptionsSchema>;

export const parseTlsOptions = optionsParser('tls', tlsOptionsSchema);

/** Plugin options → factory options (reads the *File paths). */
export function toFactoryOptions(o: TlsPluginOptions): TlsFactoryOptions {
  const { caFile, certFile, keyFile, ...rest } = o;
  return {
    ...rest,
    ca: caFile ? readFileSync(caFile) : o.ca,
    cert: certFile ? readFileSync(certFile) : o.cert,
    key: keyFile ? readFileSync(keyFile) : o.key,
  };
}
