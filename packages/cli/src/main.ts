import { createLogger, isTributaryError } from '@tributary/core';
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/index.js';
import type { CommandContext } from './context.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { humanLogDestination } from './internal/log-lines.js';

export interface RunIO {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  isTTY?: boolean;
  /** Aborted on SIGINT/SIGTERM by the bin; tests pass their own. */
  signal?: AbortSignal;
}

export { VERSION } from './version.js';

import { VERSION } from './version.js';

/** Builds the `tributary` program with every command registered. */
export function createProgram(ctx: CommandContext): Command {
  const program = new Command('tributary')
    .description('Tributary: stream, carry and index mutations from Couchbase-compatible clusters')
    .version(VERSION, '-V, --version')
    .option('-v, --verbose', 'debug logs, and stack traces on errors')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out(s.replace(/\n$/, '')),
      writeErr: (s) => ctx.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(s.replace(/^error: /, 'tributary: ')),
    });
  for (const make of COMMANDS) {
    const cmd = make(ctx);
    cmd
      .exitOverride()
      .configureOutput(program.configureOutput())
      .showHelpAfterError('(run with --help for usage)');
    program.addCommand(cmd);
  }
  return program;
}

/** Runs the command line; resolves to the exit code (never throws, never calls process.exit). */
export async function run(argv: readonly string[], io: RunIO = {}): Promise<number> {
  const stdout = io.stdout ?? ((t: string) => process.stdout.write(t));
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  const ctx: CommandContext = {
    out: (line) => stdout(`${line}\n`),
    err: (line) => stderr(`${line}\n`),
    live: (line) => {
      if (ctx.isTTY) stdout(`\r\x1b[2K${line}`);
    },
    isTTY: io.isTTY ?? Boolean(process.stdout.isTTY),
    signal: io.signal ?? new AbortController().signal,
    // Logs never share stdout with the command's output: human one-liners on stderr, at warn
    // unless asked (--verbose: debug; TRIBUTARY_LOG_LEVEL), raw pino JSON with TRIBUTARY_LOG_FORMAT=json.
    logger: createLogger({
      level: verbose ? 'debug' : (process.env.TRIBUTARY_LOG_LEVEL ?? 'warn'),
      destination: (process.env.TRIBUTARY_LOG_FORMAT === 'json'
        ? {
            write: (s: string) => {
              stderr(s);
              return true;
            },
          }
        : humanLogDestination(stderr)) as unknown as NodeJS.WritableStream,
    }),
    verbose: () => verbose,
  };
  const program = createProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'node' });
    return ctx.signal.aborted ? ExitCode.Interrupted : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed help or its one-line error.
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.help' ||
        err.code === 'commander.version'
      ) {
        return ExitCode.Ok;
      }
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    const message = err instanceof Error ? err.message : String(err);
    const code = isTributaryError(err) ? ` [${err.code}]` : '';
    ctx.err(`tributary: ${message}${code}`);
    if (verbose && err instanceof Error) {
      ctx.err(err.stack ?? '');
      let cause = err.cause as Error | undefined;
      while (cause) {
        ctx.err(`caused by: ${cause.stack ?? String(cause)}`);
        cause = cause.cause as Error | undefined;
      }
    }
    return exitCodeFor(err);
  }
}
