import { createTcpFactory } from '@tributary/connection-tcp';

const factory = createTcpFactory({ connectTimeoutMs: 5_000 });
const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (conn) => conn.pipe(conn)); // echo
const conn = await factory.connect(listener.address(), { signal: AbortSignal.timeout(2_000) });
conn.write('hello');
conn.once('data', async (data) => {
  console.log(data.toString()); // hello
  conn.destroy();
  await listener.close();
});
