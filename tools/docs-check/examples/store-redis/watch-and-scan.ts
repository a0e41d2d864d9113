import { createRedisStore } from '@tributary/store-redis';

const store = createRedisStore({ prefix: 'myapp:index:' }); // REDIS_URL or 127.0.0.1:6379
const enc = (s: string) => new TextEncoder().encode(s);
const watched = store.watch(enc('channel/'));
await watched.ready;
await store.batch([{ type: 'put', key: enc('channel/news'), value: enc('42') }]);
for await (const key of watched) {
  console.log('changed', Buffer.from(key).toString()); // changed channel/news
  break;
}
for await (const { key, value } of store.scan({ prefix: enc('channel/') })) {
  console.log(Buffer.from(key).toString(), Buffer.from(value).toString());
}
await store.batch([{ type: 'del', key: enc('channel/news') }]);
await store.close();
