import { plugins } from '@tributary/connection-tcp';
import { createRegistry } from '@tributary/core';

const registry = createRegistry();
for (const p of plugins) registry.register(p);
const tcp = await registry.create('connection-factory', 'tcp', { noDelay: true, connectTimeoutMs: 3_000 });
const listener = await tcp.listen({ host: '127.0.0.1', port: 0 }, (conn) => conn.end('hi'));
const conn = await tcp.connect(listener.address());
conn.once('data', async (d) => {
  console.log(tcp.name, d.toString()); // tcp hi
  await listener.close();
});
