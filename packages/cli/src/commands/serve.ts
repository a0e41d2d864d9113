import { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ErrCliUsage } from '../errors.js';
import { untilAborted } from '../internal/common.js';
import { describeCluster, startEmbeddedCluster } from '../internal/embedded-cluster.js';
import { addClusterOptions, type ClusterCliOptions } from './cluster-options.js';

/** `tributary serve`: the embedded Couchbase-compatible cluster, until Ctrl-C. */
export function serveCommand(ctx: CommandContext): Command {
  return addClusterOptions(
    new Command('serve').description('run the embedded Couchbase-compatible cluster until Ctrl-C'),
    { port: 8091, kvPort: 11210, vbuckets: 1024 },
  ).action(async (opts: ClusterCliOptions) => {
    if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey))
      throw ErrCliUsage('--tls-cert and --tls-key go together');
    const ec = await startEmbeddedCluster({
      ...opts,
      logger: ctx.logger,
      onError: (err) => ctx.err(`tributary serve: ${(err as Error).message ?? String(err)}`),
    });
    try {
      for (const line of describeCluster(ec.cluster, opts.bucket, opts.vbuckets)) ctx.out(line);
      if (opts.allowPlain) ctx.out('SASL PLAIN offered on plain TCP too (--allow-plain)');
      ctx.out(`user ${opts.user.username}${opts.dataDir ? `, data in ${opts.dataDir}` : ''}; Ctrl-C stops`);
      await untilAborted(ctx.signal);
    } finally {
      await ec.close();
    }
  });
}
