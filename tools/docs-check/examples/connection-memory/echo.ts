import { createMemoryFactory } from '@tributary/connection-memory';

const factory = createMemoryFactory();
const listener = await factory.listen({ host: 'kv', port: 0 }, (conn) => conn.pipe(conn)); // echo
const conn = await factory.connect(listener.address());
conn.write('hello');
conn.once('data', async (d) => {
  console.log(d.toString()); // hello
  conn.destroy();
  await listener.close();
});
