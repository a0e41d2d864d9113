import { createTcpFactory } from '@tributary/connection-tcp';
import { createPool } from '@tributary/pool';

const factory = createTcpFactory();
const server = await factory.listen({ host: '127.0.0.1', port: 0 }, (c) => c.pipe(c)); // echo
const pool = createPool({ factory, endpoint: server.address(), max: 4, min: 1, acquireTimeoutMs: 2_000 });

{
  await using guard = await pool.acquire();
  guard.connection.write('hello');
  const reply = await new Promise((r) => guard.connection.once('data', r));
  console.log(String(reply)); // hello
} // released here

const echoed = await pool.use((conn) => {
  const reply = new Promise((resolve) => conn.once('data', (d) => resolve(String(d))));
  conn.write('again');
  return reply;
});
console.log(echoed, pool.stats().created); // again 1

await pool.close({ drain: true });
await server.close();
