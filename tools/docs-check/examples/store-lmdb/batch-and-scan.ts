import { createLmdbStore } from '@tributary/store-lmdb';

const store = createLmdbStore({ path: './data/checkpoints' });
const enc = (s: string) => new TextEncoder().encode(s);
await store.batch([
  { type: 'put', key: enc('vb/0001'), value: enc('seq=42') },
  { type: 'put', key: enc('vb/0002'), value: enc('seq=7') },
  { type: 'del', key: enc('vb/0003') },
]);
console.log(Buffer.from((await store.get(enc('vb/0001')))!).toString()); // seq=42
for await (const { key } of store.scan({ prefix: enc('vb/'), limit: 10 })) {
  console.log(Buffer.from(key).toString());
}
await store.close();
