import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { demoCommand } from './demo.js';
import { statsCommand } from './stats.js';

/**
 * Every subcommand, one file each. A new command (serve, load, tail, index) is a
 * `(ctx) => Command` factory added here; it gets --help, --verbose and error handling for free.
 */
export const COMMANDS: readonly ((ctx: CommandContext) => Command)[] = [demoCommand, statsCommand];
