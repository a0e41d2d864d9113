import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { CommandContext } from '../context.js';
import {
  formatRate,
  parseNonNegativeInt,
  parsePositiveNumber,
  untilAborted,
  withDeadline,
} from '../internal/common.js';
import { describeCluster, startEmbeddedCluster } from '../internal/embedded-cluster.js';
import { startIndexPipeline } from '../internal/index-pipeline.js';
import { DEFAULT_LOAD, runLoad } from '../internal/load.js';
import { parsePort } from '../internal/parse.js';
import { addClusterOptions, type ClusterCliOptions } from './cluster-options.js';

interface DemoOpts extends ClusterCliOptions {
  memory?: boolean;
  rate: number;
  changesPort: number;
  statusPort?: number;
  duration?: number;
  readyMaxLag: number;
}

/**
 * `tributary demo`: embedded cluster + background load + datasource → channel index (LMDB in a
 * temp dir, or memory) + `_changes` + the status page, with a live rate line, until Ctrl-C.
 */
export function demoCommand(ctx: CommandContext): Command {
  return addClusterOptions(
    new Command('demo').description(
      'embedded cluster, a background load, the channel index and _changes with a status page, until Ctrl-C',
    ),
    { port: 0, kvPort: 0, vbuckets: 64 },
  )
    .option('--memory', 'keep the index in memory instead of LMDB in a temp directory')
    .option('--rate <ops/s>', 'background load, operations per second', parseNonNegativeInt, 2000)
    .option('--changes-port <port>', '_changes port (0 = free)', parsePort, 0)
    .option(
      '--status-port <port>',
      'status page and /metrics on a port of their own (default: the _changes port)',
      parsePort,
    )
    .option('--duration <s>', 'stop by itself after this many seconds (exit 0)', parsePositiveNumber)
    .option(
      '--ready-max-lag <s>',
      '/readyz answers 503 (and the status page says "catching up") past this lag',
      parsePositiveNumber,
      10,
    )
    .action(async (o: DemoOpts) => {
      const deadline = withDeadline(ctx.signal, o.duration);
      const stop = deadline.signal;
      const tmp = o.memory || o.dataDir ? undefined : mkdtempSync(join(tmpdir(), 'tributary-demo-'));
      // The temporary index goes with the demo however it ends: after the cleanups below, or at
      // process exit when something (a second Ctrl-C) exits before they ran.
      const removeTmp = () => {
        if (tmp) rmSync(tmp, { recursive: true, force: true });
      };
      process.once('exit', removeTmp);
      const report = (what: string) => (err: unknown) =>
        ctx.err(`tributary demo: ${what}: ${(err as Error)?.message ?? String(err)}`);
      const cleanups: (() => Promise<void>)[] = [
        async () => {
          removeTmp();
          process.removeListener('exit', removeTmp);
        },
      ];
      try {
        const ec = await startEmbeddedCluster({ ...o, logger: ctx.logger, onError: report('cluster') });
        cleanups.push(() => ec.close());
        for (const line of describeCluster(ec.cluster, o.bucket, o.vbuckets)) ctx.out(line);
        const p = await startIndexPipeline({
          clusterUrl: ec.cluster.managementUrl,
          bucket: o.bucket,
          user: o.user,
          storePath: tmp ? join(tmp, 'index') : undefined,
          host: o.host,
          changesPort: o.changesPort,
          statusPort: o.statusPort,
          db: 'db',
          title: `demo: bucket ${o.bucket}, ${o.vbuckets} vbuckets, ${o.nodes} node(s)`,
          // The cluster is in this process: the lag counts exactly what it has written.
          producerHighSeqnos: () => ec.cluster.bucket(o.bucket).highSeqnos(),
          readyMaxLagSeconds: o.readyMaxLag,
          logger: ctx.logger,
          onError: report('index'),
        });
        cleanups.push(() => p.close());
        ctx.out(`index    ${tmp ? `LMDB in ${join(tmp, 'index')}` : 'in memory'}`);
        ctx.out(`_changes ${p.changesUrl}?feed=longpoll&since=0  (user ${o.user.username})`);
        ctx.out(`status   ${p.statusUrl}`);
        ctx.out(`metrics  ${p.statusUrl.replace(/\/status$/, '/metrics')}`);
        ctx.out(
          `health   ${p.statusUrl.replace(/\/status$/, '/healthz')}  ${p.statusUrl.replace(/\/status$/, '/readyz')}`,
        );
        ctx.out(o.duration ? `running for ${o.duration} s` : 'Ctrl-C stops');
        const loadStop = new AbortController();
        stop.addEventListener('abort', () => loadStop.abort(), { once: true });
        const loadSignal = loadStop.signal;
        const load = runLoad(
          {
            serverUrl: ec.cluster.managementUrl,
            bucket: o.bucket,
            username: o.user.username,
            password: o.user.password,
          },
          { ...DEFAULT_LOAD, count: Number.POSITIVE_INFINITY, rate: o.rate },
          { signal: loadSignal },
        ).catch((err) => {
          if (loadSignal.aborted) return;
          p.status.noteError(err);
          report('load')(err);
        });
        // written and indexed count seqnos (every change the cluster made, and every one visible
        // in the index), so lag is their difference: what was written and is not yet indexed.
        const line = () => {
          const s = p.status.snapshot();
          return `written ${s.written}  indexed ${s.indexed}  lag ${s.lag} (${s.lagSeconds.toFixed(1)} s)  ${formatRate(s.rates.indexed)} mutations/s  ${s.verdict.state}`;
        };
        const ticker = setInterval(() => ctx.live(line()), 1000);
        try {
          await untilAborted(stop);
        } finally {
          clearInterval(ticker);
          loadStop.abort();
          await load;
          ctx.live('');
          ctx.out(`stopped: ${line()}`);
        }
      } finally {
        deadline.clear();
        for (const f of cleanups.reverse()) {
          try {
            await f();
          } catch (err) {
            report('shutdown')(err);
          }
        }
      }
    });
}
