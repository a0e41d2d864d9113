import { createScramProvider } from '@tributary/auth-scram';
import { createTcpFactory } from '@tributary/connection-tcp';
import { isTributaryError, staticCredentials } from '@tributary/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bytesMessage,
  createMutationStreamClient,
  createMutationStreamServer,
  type MutationStreamEvent,
} from '../src/index.js';
import { factories, LOCAL, transportPair, waitFor } from './helpers.js';

const Post = bytesMessage(1, 'post');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

const provider = createScramProvider({ iterations: 4096 });
const credentials = staticCredentials({ alice: 'wonderland' });

describe.each(['tcp', 'tls'] as const)('transport handshake with SCRAM over %s', (kind) => {
  async function pair(password: string | undefined, mechanism?: string) {
    const p = await transportPair(
      factories[kind](),
      password === undefined
        ? {}
        : { auth: { role: 'client', provider, username: 'alice', password, mechanism } },
      { auth: { role: 'server', provider, credentials } },
    );
    cleanups.push(p.close);
    return p;
  }

  it('authenticates, then messages flow; the server knows the user', async () => {
    const { client, server } = await pair('wonderland');
    const got: string[] = [];
    server.subscribe(Post, (m) => {
      got.push(m.toString());
    });
    client.subscribe(Post);
    await Promise.all([client.handshake(), server.handshake()]);
    expect(server.peerUser).toBe('alice');
    await client.post(Post, Buffer.from('hello'));
    await waitFor(() => got.length === 1, 'post');
    expect(got).toEqual(['hello']);
  });

  it.each(['SCRAM-SHA256', 'SCRAM-SHA1'])('the client may pick %s', async (mech) => {
    const { client, server } = await pair('wonderland', mech);
    await Promise.all([client.handshake(), server.handshake()]);
    expect(server.peerUser).toBe('alice');
  });

  it('a wrong password fails both sides with TRIB_AUTH_FAILED before any message', async () => {
    const { client, server } = await pair('rabbit-hole');
    const got: unknown[] = [];
    server.subscribe(Post, (m) => {
      got.push(m);
    });
    const [a, b] = await Promise.allSettled([client.handshake(), server.handshake()]);
    expect(isTributaryError((a as PromiseRejectedResult).reason, 'TRIB_AUTH_FAILED')).toBe(true);
    expect(isTributaryError((b as PromiseRejectedResult).reason, 'TRIB_AUTH_FAILED')).toBe(true);
    await expect(client.post(Post, Buffer.from('x'))).rejects.toMatchObject({ code: 'TRIB_AUTH_FAILED' });
    expect(got).toEqual([]);
  });

  it('a client with no credentials is refused by a server that requires them', async () => {
    const { client, server } = await pair(undefined);
    const [a, b] = await Promise.allSettled([client.handshake(), server.handshake()]);
    expect((a as PromiseRejectedResult).reason?.code).toBe('TRIB_AUTH_FAILED');
    expect((b as PromiseRejectedResult).reason?.code).toBe('TRIB_AUTH_FAILED');
  });
});

describe('mutation stream with SCRAM', () => {
  it('delivers with good credentials; publishes a failed handshake and rejects connect() with bad ones', async () => {
    const factory = createTcpFactory();
    const server = createMutationStreamServer({ listen: LOCAL, factory, auth: { provider, credentials } });
    const endpoint = await server.start();
    cleanups.push(() => server.close());
    const events: MutationStreamEvent[] = [];
    (async () => {
      for await (const ev of server) events.push(ev);
    })();

    const bad = createMutationStreamClient({
      endpoint,
      factory,
      auth: { provider, username: 'alice', password: 'nope' },
    });
    cleanups.push(() => bad.close({ drain: false }));
    await expect(bad.connect()).rejects.toMatchObject({ code: 'TRIB_AUTH_FAILED' });
    await waitFor(() => events.some((e) => e.type === 'error'), 'handshake error event');
    const err = events.find((e) => e.type === 'error');
    expect(err?.type === 'error' && err.error.code).toBe('TRIB_MSTREAM_HANDSHAKE_FAILED');

    const good = createMutationStreamClient({
      endpoint,
      factory,
      connections: 2,
      auth: { provider, username: 'alice', password: 'wonderland' },
    });
    cleanups.push(() => good.close({ drain: false }));
    await good.connect();
    await good.beginVbucket(1, 5n);
    await good.send({
      vbucket: 1,
      seqno: 1,
      vbuuid: 5n,
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    });
    expect(events.filter((e) => e.type === 'batch')).toHaveLength(1);
  });
});
