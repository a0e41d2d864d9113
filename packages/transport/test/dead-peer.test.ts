import type { TributaryError } from '@tributary/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMutationStreamClient,
  createMutationStreamServer,
  createTransport,
  jsonMessage,
  type Mutation,
  type MutationStreamEvent,
  type Transport,
} from '../src/index.js';
import { factories, LOCAL, startRelay, waitFor } from './helpers.js';

const Req = jsonMessage<{ n: number }>(1, 'req');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

const heartbeat = { heartbeatMs: 50, deadAfterHeartbeats: 4 };

describe.each(['tcp', 'tls'] as const)('heartbeat death over %s through a black-holed path', (kind) => {
  it('both ends declare the peer dead; pending requests and streams fail with TRIB_PEER_DEAD', async () => {
    const factory = factories[kind]();
    const accepted: Transport[] = [];
    const listener = await factory.listen(LOCAL, (conn) => {
      const t = createTransport(conn, { name: 'server', version: 1, settings: heartbeat });
      t.subscribe(Req, () => {}); // never replies
      t.handshake().catch(() => {});
      accepted.push(t);
    });
    cleanups.push(() => listener.close());
    const relay = await startRelay(listener.address());
    cleanups.push(relay.close);
    const errors: TributaryError[] = [];
    const client = createTransport(await factory.connect(relay.endpoint), {
      name: 'client',
      version: 1,
      settings: heartbeat,
      onError: (e) => errors.push(e),
    });
    cleanups.push(() => client.close());
    client.subscribe(Req);
    await client.handshake();
    await waitFor(() => accepted[0]?.isReady === true, 'server ready');
    // Alive through several heartbeat periods while the path works.
    await waitFor(() => client.stats().heartbeatsIn >= 5, 'heartbeats flowing');
    expect(client.isClosed).toBe(false);

    const pending = client.request(Req, { n: 1 }, { timeoutMs: 0 });
    const streamEnd = new Promise<TributaryError | undefined>((resolve) => {
      client.stream(Req, { n: 2 }, (_m, ended, err) => {
        if (ended) resolve(err);
      });
    });
    relay.blackhole(true);
    await expect(pending).rejects.toMatchObject({ code: 'TRIB_PEER_DEAD' });
    expect((await streamEnd)?.code).toBe('TRIB_PEER_DEAD');
    expect(errors.map((e) => e.code)).toContain('TRIB_PEER_DEAD');
    expect((await (accepted[0] as Transport).closed)?.code).toBe('TRIB_PEER_DEAD');
  });
});

describe('mutation stream over a path that goes dead, then comes back', () => {
  it('the client declares the server dead, reconnects and resends; nothing lost or duplicated', async () => {
    const factory = factories.tcp();
    const server = createMutationStreamServer({ listen: LOCAL, factory, settings: heartbeat });
    const target = await server.start();
    cleanups.push(() => server.close());
    const relay = await startRelay(target);
    cleanups.push(relay.close);
    const seqnos: number[] = [];
    const errors: string[] = [];
    (async () => {
      for await (const ev of server as AsyncIterable<MutationStreamEvent>) {
        if (ev.type === 'batch') for (const m of ev.mutations) seqnos.push(m.seqno);
        if (ev.type === 'error') errors.push(ev.error.code);
      }
    })();
    const clientErrors: string[] = [];
    const client = createMutationStreamClient({
      endpoint: relay.endpoint,
      factory,
      settings: heartbeat,
      backoff: { startMs: 20, maxMs: 100 },
      onError: (e) => clientErrors.push(e.code),
    });
    cleanups.push(() => client.close({ drain: false }));
    await client.connect();
    const mut = (seqno: number): Mutation => ({
      vbucket: 3,
      seqno,
      vbuuid: 77n,
      key: Buffer.from(`k${seqno}`),
      value: Buffer.from('v'),
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    });
    const acks: Promise<void>[] = [client.beginVbucket(3, 77n)];
    for (let s = 1; s <= 200; s++) acks.push(client.send(mut(s)));
    await Promise.all(acks.splice(0));
    relay.blackhole(true);
    for (let s = 201; s <= 400; s++) acks.push(client.send(mut(s)));
    await waitFor(() => clientErrors.includes('TRIB_PEER_DEAD'), 'client declares the server dead');
    relay.blackhole(false);
    await Promise.all(acks);
    expect(seqnos).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    expect(client.stats().reconnects).toBeGreaterThanOrEqual(1);
    await waitFor(
      () => errors.includes('TRIB_MSTREAM_CONNECTION_LOST'),
      'server publishes the lost connection',
    );
  });
});
