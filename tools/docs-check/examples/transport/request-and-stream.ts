import { createTcpFactory } from '@tributary/connection-tcp';
import { createTransport, jsonMessage, type Stream } from '@tributary/transport';

const Query = jsonMessage<{ prefix: string }>(1, 'query');
const Row = jsonMessage<{ key: string }>(2, 'row');

const factory = createTcpFactory();
const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (conn) => {
  const t = createTransport(conn, { name: 'server', version: 1 });
  t.subscribe(Row);
  // Handlers must not block: start the work, return at once.
  t.subscribe(Query, (q, incoming) => {
    if (incoming.kind === 'request') {
      incoming.reply(Row, { key: `${q.prefix}-first` });
      return;
    }
    const stream = incoming.stream as Stream;
    (async () => {
      for (let i = 0; i < 3 && !stream.peerClosed; i++) await stream.send(Row, { key: `${q.prefix}-${i}` });
      stream.close();
    })();
    return () => {}; // messages the opener sends on this stream (none here)
  });
  t.handshake().catch(() => {});
});

const client = createTransport(await factory.connect(listener.address()), { name: 'client', version: 1 });
client.subscribe(Query).subscribe(Row);
await client.handshake();

const first = await client.request<{ key: string }>(Query, { prefix: 'a' }, { timeoutMs: 1000 });
const keys: string[] = [];
let finished!: () => void;
const done = new Promise<void>((resolve) => {
  finished = resolve;
});
const stream = await client.stream(Query, { prefix: 'b' }, (row, ended) => {
  if (ended)
    finished(); // the server closed its side
  else keys.push((row as { key: string }).key);
});
await done;
stream.close(); // both sides closed: the id is free again
console.log(first.key, keys); // a-first [ 'b-0', 'b-1', 'b-2' ]
await client.close();
await listener.close();
