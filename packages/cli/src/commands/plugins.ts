import { createRegistry } from '@tributary/core';
import { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { formatTable } from '../internal/table.js';
import { registerFirstPartyPlugins } from '../plugins.js';

/**
 * `tributary plugins`: registers every first-party plugin and prints the registry.
 */
export function pluginsCommand(ctx: CommandContext): Command {
  return new Command('plugins')
    .description('list the plugins every first-party package registers')
    .action(async () => {
      const registry = createRegistry({ context: { logger: ctx.logger } });
      const report = await registerFirstPartyPlugins(registry);
      const rows = registry.list().map((m) => [m.kind, m.name, String(m.apiVersion), m.version ?? '']);
      ctx.out(`tributary plugins: ${rows.length} plugins registered`);
      ctx.out('');
      for (const line of formatTable(['KIND', 'NAME', 'API', 'VERSION'], rows)) ctx.out(line);
      const skipped = Object.entries(report.skipped);
      if (skipped.length) {
        ctx.out('');
        ctx.out(
          `${skipped.length} package(s) registered nothing${ctx.verbose() ? ':' : ' (--verbose says why)'}`,
        );
        if (ctx.verbose()) for (const [pkg, why] of skipped) ctx.out(`  ${pkg}: ${why}`);
      }
    });
}
