import { createTcpFactory } from '@tributary/connection-tcp';
import { createMutationStreamClient, createMutationStreamServer } from '@tributary/transport';

const factory = createTcpFactory();
const server = createMutationStreamServer({ listen: { host: '127.0.0.1', port: 0 }, factory });
const endpoint = await server.start();

(async () => {
  for await (const ev of server) {
    if (ev.type === 'batch')
      console.log(
        ev.vbucket,
        ev.mutations.map((m) => m.seqno),
      );
    else if (ev.type === 'error') console.error(ev.error.code, ev.vbucket, ev.remote);
    else console.log(ev.type, ev.vbucket); // begin / end / snapshot
  }
})();

const client = createMutationStreamClient({ endpoint, factory, connections: 4 });
await client.connect();
await client.beginVbucket(7, 0xfeedn, { startSeqno: 0 });
await client.snapshot(7, 1, 2);
await Promise.all(
  [1, 2].map((seqno) =>
    client.send({
      vbucket: 7,
      seqno,
      vbuuid: 0xfeedn,
      key: Buffer.from(`k${seqno}`),
      value: Buffer.from('{}'),
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    }),
  ),
);
await client.endVbucket(7);
await client.close();
await server.close();
