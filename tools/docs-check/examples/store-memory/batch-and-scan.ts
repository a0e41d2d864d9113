import { createMemoryStore } from '@tributary/store-memory';

const store = createMemoryStore();
const enc = (s: string) => new TextEncoder().encode(s);
await store.batch([
  { type: 'put', key: enc('user/1'), value: enc('ada') },
  { type: 'put', key: enc('user/2'), value: enc('grace') },
]);
for await (const { key, value } of store.scan({ prefix: enc('user/'), reverse: true })) {
  console.log(Buffer.from(key).toString(), Buffer.from(value).toString()); // user/2 grace, user/1 ada
}
await store.close();
