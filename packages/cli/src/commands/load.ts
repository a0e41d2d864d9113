import cliProgress from 'cli-progress';
import { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ErrCliUsage } from '../errors.js';
import { formatRate, parseNonNegativeInt, parsePositiveNumber, parseShare } from '../internal/common.js';
import { DEFAULT_LOAD, type LoadCounts, runLoad } from '../internal/load.js';
import { parsePositiveInt } from '../internal/parse.js';
import { addClusterClientOptions } from './cluster-options.js';

interface LoadOpts {
  cluster: URL;
  bucket: string;
  user: { username: string; password: string };
  count: number;
  rate: number;
  size: number;
  keys: number;
  updates: number;
  deletes: number;
  expiring: number;
  expiry: number;
  channels: number;
  channelPool: number;
  window: number;
}

/** `tributary load`: writes documents through the KV protocol (SCRAM, SELECT_BUCKET, pipelined). */
export function loadCommand(ctx: CommandContext): Command {
  return addClusterClientOptions(
    new Command('load').description(
      'write documents to a bucket through the KV protocol, with a progress bar and a final rate',
    ),
  )
    .option('-n, --count <n>', 'operations to send', parsePositiveInt, DEFAULT_LOAD.count)
    .option('--rate <ops/s>', 'operations per second (0 = as fast as possible)', parseNonNegativeInt, 0)
    .option('--size <bytes>', 'document size in bytes', parsePositiveInt, DEFAULT_LOAD.valueSize)
    .option('--keys <n>', 'key space (doc-0 .. doc-<n-1>)', parsePositiveInt, DEFAULT_LOAD.keys)
    .option(
      '--updates <share>',
      'share of writes that update an existing key',
      parseShare,
      DEFAULT_LOAD.updates,
    )
    .option('--deletes <share>', 'share of operations that delete a key', parseShare, DEFAULT_LOAD.deletes)
    .option('--expiring <share>', 'share of writes with an expiry', parseShare, DEFAULT_LOAD.expiring)
    .option(
      '--expiry <s>',
      'expiry of expiring documents, seconds',
      parsePositiveNumber,
      DEFAULT_LOAD.expirySeconds,
    )
    .option('--channels <n>', 'channels per document', parseNonNegativeInt, DEFAULT_LOAD.channelsPerDoc)
    .option('--channel-pool <n>', 'distinct channels (ch-0 ..)', parsePositiveInt, DEFAULT_LOAD.channelPool)
    .option('--window <n>', 'requests in flight', parsePositiveInt, DEFAULT_LOAD.window)
    .action(async (o: LoadOpts) => {
      if (o.channels > o.channelPool) throw ErrCliUsage('--channels cannot exceed --channel-pool');
      const bar = ctx.isTTY
        ? new cliProgress.SingleBar(
            { format: 'load [{bar}] {percentage}% | {value}/{total} ops | {rate} ops/s', hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      bar?.start(o.count, 0, { rate: 0 });
      let counts: LoadCounts;
      try {
        counts = await runLoad(
          {
            serverUrl: o.cluster.href,
            bucket: o.bucket,
            username: o.user.username,
            password: o.user.password,
          },
          {
            ...DEFAULT_LOAD,
            count: o.count,
            rate: o.rate,
            valueSize: o.size,
            keys: o.keys,
            updates: o.updates,
            deletes: o.deletes,
            expiring: o.expiring,
            expirySeconds: o.expiry,
            channelsPerDoc: o.channels,
            channelPool: o.channelPool,
            window: o.window,
          },
          {
            signal: ctx.signal,
            onProgress: (c) => bar?.update(c.done, { rate: formatRate(c.done / Math.max(c.seconds, 0.001)) }),
          },
        );
      } finally {
        bar?.stop();
      }
      const rate = counts.done / Math.max(counts.seconds, 0.001);
      ctx.out(
        `loaded ${counts.done} ops in ${counts.seconds.toFixed(2)} s: ${formatRate(rate)} ops/s ` +
          `(${counts.sets} sets, ${counts.deletes} deletes, ${counts.expiring} expiring, ${counts.failed} failed)`,
      );
    });
}
