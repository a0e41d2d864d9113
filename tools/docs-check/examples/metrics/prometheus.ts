import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetrics, diff, toPrometheus } from '@tributary/metrics';

const metrics = createMetrics();
const stats = metrics.group('ingest', { bucket: 'beer-sample' });
const received = stats.counter('received', 'Mutations received');
const latency = stats.histogram('latency_ms', 'Receive-to-apply latency');

const before = metrics.snapshot();
for (let i = 0; i < 1000; i++) {
  received.inc();
  latency.observe(i % 10);
}
console.log(diff(before, metrics.snapshot()).ingest.counters.received); // 1000
console.log(latency.snapshot().p99 >= 9); // true: never below the exact value

// Serve it for Prometheus (port 0 here: any free port), scrape it once, stop.
const server = createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain; version=0.0.4');
  res.end(toPrometheus(metrics));
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
console.log(text.split('\n').find((l) => l.startsWith('tributary_ingest_received')));
// tributary_ingest_received{bucket="beer-sample"} 1000
server.close();
