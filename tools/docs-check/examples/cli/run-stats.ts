import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { run } from '@tributary/cli';
import { createMetrics, toPrometheus } from '@tributary/metrics';

// Any Prometheus endpoint will do; here, one serving a single counter.
const metrics = createMetrics();
metrics.group('app').counter('requests', 'Requests served').inc(3);
const server = createServer(async (_req, res) => res.end(await toPrometheus(metrics))).listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// The same as `tributary stats <url> --json --filter app`: resolves to the exit code, never calls process.exit.
const code = await run(['node', 'tributary', 'stats', url, '--json', '--filter', 'app']);
// stdout: [{"name":"tributary_app_requests_total","labels":{},"value":3,"type":"counter"}]
console.log('exit code', code); // exit code 0
server.close();
