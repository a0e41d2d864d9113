import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../src/run-example.js';

/**
 * An example file and what it must print (each pattern, in this order, on stdout). Examples that
 * use Redis or PostgreSQL fail (never skip) when the service is down.
 */
export interface Example {
  file: string;
  prints: RegExp[];
  /** What the example's directory must hold before it runs. */
  prepare?: (cwd: string) => void;
}

const ex = (pkg: string, name: string) => `tools/docs-check/examples/${pkg}/${name}.ts`;

export const EXAMPLES: Example[] = [
  {
    file: ex('core', 'registry'),
    prints: [
      /^\[ 'tiny', 'memory' \]$/m,
      /^v$/m,
      /^invalid options for plugin "tiny" at "capacity": Number must be greater than 0$/m,
    ],
  },
  {
    file: ex('metrics', 'prometheus'),
    prints: [
      /^1000$/m,
      /^true$/m,
      /^tributary_ingest_received_total\{bucket="beer-sample"\} 1000$/m,
      /^tributary_ingest_latency_seconds_bucket\{bucket="beer-sample",le="0\.005"\} 600$/m,
    ],
  },
  { file: ex('codec', 'dcp-frames'), prints: [/^361 1 airline_10 \{"id":10\}$/m] },
  { file: ex('transport', 'request-and-stream'), prints: [/^a-first \[ 'b-0', 'b-1', 'b-2' \]$/m] },
  {
    file: ex('transport', 'mutation-stream'),
    prints: [/^begin 7$/m, /^snapshot 7$/m, /^7 \[ 1, 2 \]$/m, /^end 7$/m],
  },
  { file: ex('pool', 'echo-pool'), prints: [/^hello$/m, /^again 1$/m] },
  {
    file: ex('cluster', 'official-sdk'),
    prints: [/^\[ 1, '1-a', '2' \]$/m, /^true$/m, /^2$/m],
  },
  {
    file: ex('cluster', 'start-cluster'),
    prints: [
      /^http:\/\/127\.0\.0\.1:\d+ \[ \d+, \d+ \]$/m,
      /^\{"hello":"world"\} 1 688$/m,
      /^\[ true, false \]$/m,
    ],
  },
  {
    file: ex('datasource', 'receiver'),
    prints: [/^set doc-\d \{"n":\d\}$/m, /^deletion doc-3$/m, /^4$/m],
  },
  {
    file: ex('datasource', 'checkpoints'),
    prints: [/^\[ 'a', 'b', 'c' \]\n\[ 'd' \]$/m],
  },
  {
    file: ex('datasource', 'iterator'),
    prints: [/^\[ 'doc-0', 'doc-1', 'doc-2' \]$/m],
  },
  {
    file: ex('channel-index', 'changes-feed'),
    prints: [/^\[ 'story-1' \]\n\[ 'match-1' \]$/m],
  },
  {
    file: ex('cli', 'run-stats'),
    prints: [
      /^\[\{"name":"tributary_app_requests_total","labels":\{\},"value":3,"type":"counter"\}\]$/m,
      /^exit code 0$/m,
    ],
  },
  {
    file: ex('consumer-groups', 'two-members'),
    prints: [/^a alone: 16 vbuckets\nsplit: 16 vbuckets\ntrue\na again: 16 vbuckets$/m],
  },
  {
    file: ex('plugins', 'load-plugins'),
    prints: [/^\[ 'redis', 'memory' \]\n\[ 1 \]\nTRIB_PLUGIN_LOAD$/m],
  },
  { file: ex('auth-plain', 'plain'), prints: [/^\{ done: true, username: 'user' \}$/m] },
  { file: ex('auth-scram', 'scram'), prints: [/^alice$/m] },
  { file: ex('connection-memory', 'echo'), prints: [/^hello$/m] },
  { file: ex('connection-tcp', 'echo'), prints: [/^hello$/m] },
  { file: ex('connection-tcp', 'registry'), prints: [/^tcp hi$/m] },
  {
    file: ex('connection-tls', 'echo'),
    prints: [/^secure=true$/m],
    prepare: (cwd) => {
      mkdirSync(join(cwd, 'certs'));
      for (const f of ['ca.crt', 'server.crt', 'server.key'])
        cpSync(join(ROOT, 'plugins/connection-tls/test/fixtures', f), join(cwd, 'certs', f));
    },
  },
  { file: ex('store-lmdb', 'batch-and-scan'), prints: [/^seq=42\nvb\/0001\nvb\/0002$/m] },
  { file: ex('store-memory', 'batch-and-scan'), prints: [/^user\/2 grace\nuser\/1 ada$/m] },
  { file: ex('store-memory', 'watch'), prints: [/^changed jobs\/7$/m] },
  {
    file: ex('store-postgres', 'batch-and-scan'),
    prints: [/^\{"rev":1\} undefined\ndoc\/2\ndoc\/1$/m],
  },
  {
    file: ex('store-redis', 'watch-and-scan'),
    prints: [/^changed channel\/news\nchannel\/news 42$/m],
  },
];
