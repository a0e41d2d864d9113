import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetrics, diff, toPrometheus } from '@tributary/metrics';
import { Registry } from 'prom-client';

// Your own prom-client registry (optional): Tributary's families go next to yours.
const registry = new Registry();
const metrics = createMetrics({ registry, processMetrics: true });
const stats = metrics.group('ingest', { bucket: 'beer-sample' });
const received = stats.counter('received', 'Mutations received');
const latency = stats.histogram('latency_seconds', 'Receive-to-apply latency');

const before = metrics.snapshot();
for (let i = 0; i < 1000; i++) {
  received.inc();
  latency.observe((i % 10) / 1000);
}
console.log(diff(before, metrics.snapshot())['ingest{bucket="beer-sample"}']!.counters.received); // 1000
console.log(latency.snapshot().p99 >= 0.009); // true: never below the exact value

// Serve it for Prometheus (port 0 here: any free port), scrape it once, stop.
const server = createServer(async (_req, res) => {
  res.setHeader('content-type', registry.contentType);
  res.end(await toPrometheus(metrics)); // the same as `await registry.metrics()`
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
console.log(text.split('\n').find((l) => l.startsWith('tributary_ingest_received')));
// tributary_ingest_received_total{bucket="beer-sample"} 1000
console.log(
  text
    .split('\n')
    .find((l) => l.startsWith('tributary_ingest_latency_seconds_bucket{bucket="beer-sample",le="0.005"')),
);
// tributary_ingest_latency_seconds_bucket{bucket="beer-sample",le="0.005"} 600
server.close();
