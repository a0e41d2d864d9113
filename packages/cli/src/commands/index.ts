import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { demoCommand } from './demo.js';
import { indexCommand } from './index-command.js';
import { loadCommand } from './load.js';
import { pluginsCommand } from './plugins.js';
import { serveCommand } from './serve.js';
import { statsCommand } from './stats.js';
import { tailCommand } from './tail.js';

/**
 * Every subcommand, one file each. A new command is a `(ctx) => Command` factory added here;
 * it gets --help, --verbose and error handling for free.
 */
export const COMMANDS: readonly ((ctx: CommandContext) => Command)[] = [
  serveCommand,
  loadCommand,
  tailCommand,
  indexCommand,
  statsCommand,
  demoCommand,
  pluginsCommand,
];
