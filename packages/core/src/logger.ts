import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

export interface CreateLoggerOptions {
  level?: string;
  name?: string;
  /** A pino destination; defaults to stdout. */
  destination?: NodeJS.WritableStream;
  base?: Record<string, unknown>;
}

function defaultLevel(): string {
  if (process.env.TRIBUTARY_LOG_LEVEL) return process.env.TRIBUTARY_LOG_LEVEL;
  // Tests stay quiet unless asked; applications log at info.
  return process.env.VITEST || process.env.NODE_ENV === 'test' ? 'silent' : 'info';
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  // No pid/hostname noise by default; `name` still shows on every line when given.
  const base = options.base ?? (options.name ? {} : null);
  const opts: LoggerOptions = {
    level: options.level ?? defaultLevel(),
    base: base && options.name ? { name: options.name, ...base } : base,
  };
  return options.destination ? pino(opts, options.destination as never) : pino(opts);
}

/** A child bound to `{ component }`, made once per component (never per message). */
export function componentLogger(
  parent: Logger | undefined,
  component: string,
  bindings: Record<string, unknown> = {},
): Logger {
  return (parent ?? silentLogger).child({ component, ...bindings });
}

/** A logger that writes nothing: the default wherever the caller passes none. */
export const silentLogger: Logger = pino({ level: 'silent' });
