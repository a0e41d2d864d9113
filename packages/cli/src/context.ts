import type { Logger } from '@tributary/core';

/** What every command gets: where to write, how loud to be, and a signal that fires on Ctrl-C. */
export interface CommandContext {
  out(line: string): void;
  err(line: string): void;
  /** Whether stdout is a terminal (progress bars and live lines only then). */
  isTTY: boolean;
  /** Set by Ctrl-C / SIGTERM; long-running commands stop cleanly on it. */
  signal: AbortSignal;
  /** A pino logger at `info` (`debug` with --verbose), written to stderr. */
  logger: Logger;
  verbose(): boolean;
}
