import { createPostgresStore } from '@tributary/store-postgres';

const store = createPostgresStore({ table: 'readme_example' }); // DATABASE_URL or 127.0.0.1
const enc = (s: string) => new TextEncoder().encode(s);
await store.batch([
  { type: 'put', key: enc('doc/1'), value: enc('{"rev":1}') },
  { type: 'put', key: enc('doc/2'), value: enc('{"rev":4}') },
]);
const [one, missing] = await store.getMany([enc('doc/1'), enc('doc/9')]);
console.log(Buffer.from(one!).toString(), missing); // {"rev":1} undefined
for await (const { key } of store.scan({ prefix: enc('doc/'), reverse: true })) {
  console.log(Buffer.from(key).toString()); // doc/2, doc/1
}
await store.batch([
  { type: 'del', key: enc('doc/1') },
  { type: 'del', key: enc('doc/2') },
]);
await store.close();
