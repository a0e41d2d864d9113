import { createMemoryStore } from '@tributary/store-memory';

const a = createMemoryStore();
const b = createMemoryStore({ backend: a.backend });
const ac = new AbortController();
const watching = (async () => {
  for await (const key of a.watch(new TextEncoder().encode('jobs/'), { signal: ac.signal })) {
    console.log('changed', Buffer.from(key).toString());
    ac.abort();
  }
})();
await b.batch([{ type: 'put', key: new TextEncoder().encode('jobs/7'), value: new Uint8Array([1]) }]);
await watching;
await a.close();
await b.close();
