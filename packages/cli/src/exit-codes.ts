import { isTributaryError } from '@tributary/core';

/** Exit codes of the `tributary` command (sysexits.h where one fits). */
export const ExitCode = Object.freeze({
  Ok: 0,
  /** Anything else that went wrong. */
  Failure: 1,
  /** Bad command line or bad option values. */
  Usage: 2,
  /** A service we talk to could not be reached (connection refused, timeout, HTTP error). */
  Unavailable: 69,
  /** Stopped by SIGINT / Ctrl-C. */
  Interrupted: 130,
});

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const USAGE_CODES = new Set([
  'TRIB_CLI_USAGE',
  'TRIB_INVALID_ARGUMENT',
  'TRIB_PLUGIN_OPTIONS',
  'TRIB_PLUGIN_NOT_FOUND',
]);

/** Which exit code an error means. */
export function exitCodeFor(err: unknown): ExitCode {
  if (isTributaryError(err)) {
    if (USAGE_CODES.has(err.code)) return ExitCode.Usage;
    if (err.code === 'TRIB_ABORTED') return ExitCode.Interrupted;
    if (err.retriable || err.code.startsWith('TRIB_CONNECT_') || err.code === 'TRIB_CLI_HTTP')
      return ExitCode.Unavailable;
  }
  return ExitCode.Failure;
}
