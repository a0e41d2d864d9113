import type { Logger } from '@tributary/core';

/** What every command gets: where to write, how loud to be, and a signal that fires on Ctrl-C. */
export interface CommandContext {
  out(line: string): void;
  err(line: string): void;
  /** On a terminal, replaces the current stdout line with `line` (no newline); else nothing. */
  live(line: string): void;
  /** Whether stdout is a terminal (progress bars and live lines only then). */
  isTTY: boolean;
  /** Set by Ctrl-C / SIGTERM; long-running commands stop cleanly on it. */
  signal: AbortSignal;
  /** A pino logger at `warn` (`debug` with --verbose), one human line per record on stderr. */
  logger: Logger;
  verbose(): boolean;
}
