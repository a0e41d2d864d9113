import { defineError } from '@tributary/core';

export const ErrCliUsage = defineError('TRIB_CLI_USAGE', (why: string) => why);
export const ErrCliHttp = defineError(
  'TRIB_CLI_HTTP',
  (url: string, why: string) => `cannot read ${url}: ${why}`,
  { retriable: true },
);
export const ErrCliMetricsFormat = defineError(
  'TRIB_CLI_METRICS_FORMAT',
  (url: string, line: number, why: string) => `${url} is not Prometheus text (line ${line}: ${why})`,
);
export const ErrCliKv = defineError(
  'TRIB_CLI_KV',
  (endpoint: string, why: string) => `KV ${endpoint}: ${why}`,
  { retriable: true },
);
export const ErrCliStatusClients = defineError(
  'TRIB_CLI_STATUS_CLIENTS',
  (max: number) => `too many live-events clients on the status page (limit ${max}); retry later`,
  { retriable: true },
);
