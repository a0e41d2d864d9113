import type { Command } from 'commander';
import { parseUser } from '../internal/common.js';
import type { EmbeddedClusterOptions } from '../internal/embedded-cluster.js';
import { parseHttpUrl, parsePort, parsePositiveInt } from '../internal/parse.js';

/** What the shared flags parse to: the embedded cluster's options minus what the command supplies. */
export type ClusterCliOptions = Omit<EmbeddedClusterOptions, 'logger' | 'metrics' | 'onError'>;

/** The embedded-cluster options shared by `serve` and `demo`. */
export function addClusterOptions(
  cmd: Command,
  defaults: { port: number; kvPort: number; vbuckets: number },
): Command {
  return cmd
    .option('--nodes <n>', 'data nodes', parsePositiveInt, 1)
    .option('--vbuckets <n>', 'vbuckets per bucket', parsePositiveInt, defaults.vbuckets)
    .option('--bucket <name>', 'bucket name', 'default')
    .option('--user <user:password>', 'the one user (SASL and REST)', parseUser, {
      username: 'Administrator',
      password: 'password',
    })
    .option('--host <host>', 'bind and advertise address', '127.0.0.1')
    .option('--port <port>', 'REST port of node 0, +1 per node (0 = free ports)', parsePort, defaults.port)
    .option('--kv-port <port>', 'KV port of node 0, +1 per node (0 = free ports)', parsePort, defaults.kvPort)
    .option('--data-dir <dir>', 'persist documents in an LMDB store in this directory')
    .option('--tls-cert <file>', 'PEM certificate: also listen with TLS (kvSSL)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--tls-ca <file>', 'PEM CA certificate')
    .option('--tls-port <port>', 'kvSSL port of node 0 (0 = free ports)', parsePort, 0)
    .option(
      '--allow-plain',
      'offer SASL PLAIN on plain TCP too (clients that speak only PLAIN, such as Go cbdatasource; passwords cross the wire in clear)',
    );
}

/** --cluster, --bucket and --user: where `load`, `tail` and `index` find a running cluster. */
export function addClusterClientOptions(cmd: Command, userHelp = 'credentials'): Command {
  return cmd
    .option(
      '--cluster <url>',
      'cluster-manager URL',
      (v: string) => parseHttpUrl(v, '/'),
      parseHttpUrl('http://127.0.0.1:8091'),
    )
    .option('--bucket <name>', 'bucket', 'default')
    .option('--user <user:password>', userHelp, parseUser, {
      username: 'Administrator',
      password: 'password',
    });
}
