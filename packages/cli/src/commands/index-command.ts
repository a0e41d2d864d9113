import { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { parsePositiveNumber, untilAborted, withDeadline } from '../internal/common.js';
import { startIndexPipeline } from '../internal/index-pipeline.js';
import { parsePort, parsePortOrSame } from '../internal/parse.js';
import { addClusterClientOptions } from './cluster-options.js';

interface IndexOpts {
  cluster: URL;
  bucket: string;
  user: { username: string; password: string };
  store?: string;
  memory?: boolean;
  host: string;
  port: number;
  statusPort: number | 'same';
  db: string;
  duration?: number;
  readyMaxLag: number;
}

/** `tributary index`: a bucket into the channel index on a store, served as `_changes`. */
export function indexCommand(ctx: CommandContext): Command {
  return (
    addClusterClientOptions(
      new Command('index').description(
        'stream a bucket into the channel index on a store and serve _changes (and /status)',
      ),
      'cluster credentials, also the _changes admin',
    )
      .option('--store <dir>', 'LMDB directory for the index', './tributary-index')
      .option('--memory', 'keep the index in memory instead of LMDB')
      .option('--host <host>', 'listen address', '127.0.0.1')
      .option('--port <port>', '_changes port (0 = free)', parsePort, 4984)
      // Its own port by default: /status and /metrics need no credentials, _changes does, so the
      // port you expose to clients need not show them.
      .option(
        '--status-port <port|same>',
        'status page and /metrics port (0 = free; same = on the _changes port)',
        parsePortOrSame,
        4985,
      )
      .option('--db <name>', 'database name in /{db}/_changes', 'db')
      .option('--duration <s>', 'stop by itself after this many seconds', parsePositiveNumber)
      .option(
        '--ready-max-lag <s>',
        '/readyz answers 503 (and the status page says "catching up") past this lag',
        parsePositiveNumber,
        10,
      )
      .action(async (o: IndexOpts) => {
        const p = await startIndexPipeline({
          clusterUrl: o.cluster.href,
          bucket: o.bucket,
          user: o.user,
          storePath: o.memory ? undefined : o.store,
          host: o.host,
          changesPort: o.port,
          statusPort: o.statusPort === 'same' ? undefined : o.statusPort,
          db: o.db,
          title: `index of ${o.bucket} at ${o.cluster.host}`,
          readyMaxLagSeconds: o.readyMaxLag,
          logger: ctx.logger,
          onError: (err) => ctx.err(`tributary index: ${(err as Error)?.message ?? String(err)}`),
        });
        try {
          ctx.out(`_changes ${p.changesUrl}  (admin ${o.user.username})`);
          ctx.out(`status   ${p.statusUrl}`);
          ctx.out(`metrics  ${p.statusUrl.replace(/\/status$/, '/metrics')}`);
          ctx.out(
            `health   ${p.statusUrl.replace(/\/status$/, '/healthz')}  ${p.statusUrl.replace(/\/status$/, '/readyz')}`,
          );
          const deadline = withDeadline(ctx.signal, o.duration);
          await untilAborted(deadline.signal);
          deadline.clear();
        } finally {
          await p.close();
        }
      })
  );
}
