import { defineError } from '@tributary/core';

/** A metric or label name that Prometheus (or our snake_case convention) does not accept. */
export const ErrMetricsName = defineError(
  'TRIB_METRICS_NAME',
  (what: string, name: string) => `${what} "${name}" must be snake_case: [a-z_][a-z0-9_]*`,
);

/** One family name asked for as two different types (a counter and a gauge, say). */
export const ErrMetricsTypeConflict = defineError(
  'TRIB_METRICS_TYPE_CONFLICT',
  (name: string, has: string, asked: string) => `metric ${name} is a ${has}, not a ${asked}`,
);
