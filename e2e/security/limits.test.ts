// Limits, refused cleanly: too many DCP streams on a data node connection, too many transport
// streams on one connection, too many waiting `_changes` clients. Each refusal has its status,
// is counted, and the connection / process keeps serving what it already accepted.

import { type Cluster, startCluster } from '@tributary/cluster';
import {
  DcpOpenFlag,
  encodeDcpCloseStream,
  encodeDcpOpen,
  encodeDcpStreamReq,
  encodeNoop,
  Opcode,
  SEQNO_FOREVER,
  Status,
} from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { createMetrics } from '@tributary/metrics';
import { createTransport, jsonMessage, type Stream, type Transport } from '@tributary/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { waitFor } from '../support/pipeline.js';
import { ADMIN_AUTH, startChangesRig } from './changes-rig.js';
import { login, RawMcbp } from './mcbp.js';

const USERS = { Administrator: 'password' };
const counters = (c: Cluster) => (c.stats() as { counters: Record<string, number> }).counters;

describe('data node: too many DCP streams', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 1,
      vbuckets: 8,
      buckets: ['default'],
      users: USERS,
      dcpMaxStreams: 3,
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  const streamReq = (c: RawMcbp, vbucket: number) =>
    c.call(
      encodeDcpStreamReq({
        vbucket,
        opaque: c.nextOpaque(),
        flags: 0,
        startSeqno: 0,
        endSeqno: SEQNO_FOREVER,
        vbucketUuid: 0n,
        snapStart: 0,
        snapEnd: 0,
      }),
    );

  const openDcp = async (name: string) => {
    const c = await RawMcbp.connect(cluster.nodes[0]!.kvPort);
    await login(c, 'Administrator', 'password', 'default');
    const open = await c.call(encodeDcpOpen({ opaque: c.nextOpaque(), name, flags: DcpOpenFlag.Producer }));
    expect(open.status).toBe(Status.Success);
    return c;
  };

  it('a stream past the per-connection limit gets ENOMEM, a bad vbucket NOT_MY_VBUCKET, a duplicate KEY_EEXISTS; the connection keeps streaming', {
    timeout: 60_000,
  }, async () => {
    const c = await openDcp('limits-1');
    const opaques = new Map<number, number>(); // opaque → vbucket
    for (const vb of [0, 1, 2]) {
      const r = await streamReq(c, vb);
      expect(r.status, `vb ${vb}`).toBe(Status.Success);
      opaques.set(r.opaque, vb);
    }
    expect((await streamReq(c, 8)).status).toBe(Status.NotMyVbucket); // beyond the vbuckets
    expect((await streamReq(c, 0xffff)).status).toBe(Status.NotMyVbucket);
    expect((await streamReq(c, 1)).status).toBe(Status.KeyEexists); // stream already open
    const before = counters(cluster).dcp_streams_refused ?? 0;
    const over = await streamReq(c, 3);
    expect(over.status).toBe(Status.Enomem);
    expect(JSON.parse(over.value.toString()).error.context).toMatch(/3 streams/);
    expect(counters(cluster).dcp_streams_refused).toBe(before + 1);

    // The connection is still up and its streams still deliver.
    expect((await c.call(encodeNoop({ opaque: c.nextOpaque() }))).status).toBe(Status.Success);
    const bucket = cluster.bucket('default');
    let key = '';
    for (let i = 0; ; i++) {
      key = `limits-doc-${i}`;
      if (bucket.vbucketOf(key) === 2) break;
    }
    bucket.upsert(key, { n: 1 });
    const mutation = await c.take((p) => p.opcode === Opcode.DcpMutation && p.key.toString() === key);
    expect(opaques.get(mutation.opaque)).toBe(2);

    // Closing a stream makes room for another.
    expect((await c.call(encodeDcpCloseStream({ vbucket: 1, opaque: c.nextOpaque() }))).status).toBe(
      Status.Success,
    );
    expect((await streamReq(c, 3)).status).toBe(Status.Success);
    expect((await streamReq(c, 4)).status).toBe(Status.Enomem);

    // The limit is per connection: another one gets its own streams; the node is up.
    const d = await openDcp('limits-2');
    for (const vb of [5, 6, 7]) expect((await streamReq(d, vb)).status).toBe(Status.Success);
    c.destroy();
    d.destroy();
    await Promise.all([c.closed, d.closed]);
    await waitFor('streams released', () => (counters(cluster).dcp_streams ?? 0) === 0, { timeoutMs: 5000 });
  });
});

describe('transport: too many streams on one connection', () => {
  const Open = jsonMessage<{ n: number }>(1, 'open');
  const Ping = jsonMessage<{ n: number }>(2, 'ping');

  it('past the opaque range a stream fails with TRIB_STREAMS_EXHAUSTED (or waits), the connection keeps working', {
    timeout: 30_000,
  }, async () => {
    const factory = createTcpFactory();
    const served: Transport[] = [];
    const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (conn) => {
      const t = createTransport(conn, { name: 'server', version: 1, metrics: createMetrics() });
      t.subscribe(Open, (_m, incoming) => {
        if (incoming.kind === 'request') {
          incoming.reply(Ping, { n: 0 });
          return;
        }
        const s = incoming.stream as Stream;
        return (_msg, ended) => {
          if (ended) s.close();
        };
      });
      t.subscribe(Ping);
      served.push(t);
      t.handshake().catch(() => {});
    });
    const client = createTransport(await factory.connect(listener.address()), {
      name: 'client',
      version: 1,
      settings: { opaqueStart: 1, opaqueEnd: 4 }, // three ids: three concurrent streams at most
    });
    client.subscribe(Open).subscribe(Ping);
    try {
      await client.handshake();
      const streams = [];
      for (let i = 0; i < 3; i++) streams.push(await client.stream(Open, { n: i }, () => {}));
      const err = await client
        .stream(Open, { n: 9 }, () => {}, { onExhausted: 'fail' })
        .then(
          () => undefined,
          (e) => e,
        );
      expect(err?.code).toBe('TRIB_STREAMS_EXHAUSTED');
      // A waiting opener gets the first id freed (both sides closed).
      let waited = false;
      const late = client
        .stream(Open, { n: 10 }, () => {})
        .then((s) => {
          waited = true;
          return s;
        });
      expect(waited).toBe(false);
      streams[0]!.close();
      const s4 = await late;
      expect(s4.id).toBe(streams[0]!.id);
      // Still a healthy connection: a request needs an id too and gets one once a stream ends.
      streams[1]!.close();
      const reply = await client.request<{ n: number }>(Open, { n: 11 }, { timeoutMs: 5000 });
      expect(reply).toEqual({ n: 0 });
      expect(client.isReady).toBe(true);
    } finally {
      await client.close();
      for (const t of served) await t.close();
      await listener.close();
    }
  });
});

describe('_changes: too many waiting clients, end to end', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 1, vbuckets: 16, buckets: ['default'], users: USERS });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('longpolls past maxWaitingClients get 503 TRIB_CHANGES_TOO_MANY_CLIENTS, a websocket close 1013; the admitted ones are woken by a write to the cluster', {
    timeout: 60_000,
  }, async () => {
    const MAX = 20;
    const { index, server, url, close } = await startChangesRig(cluster, { maxWaitingClients: MAX });
    const auth = { authorization: ADMIN_AUTH };
    try {
      const bucket = cluster.bucket('default');
      const { last_seq } = (await (await fetch(`${url}/db/_changes`, { headers: auth })).json()) as {
        last_seq: string;
      };
      const poll = () =>
        fetch(`${url}/db/_changes?feed=longpoll&since=${last_seq}&timeout=30000`, { headers: auth });
      const admitted = Array.from({ length: MAX }, poll);
      await waitFor('every admitted client waiting', () => server.stats().longpollsWaiting === MAX, {
        timeoutMs: 10_000,
      });
      // (the same question from every client: one shared wait in the index)
      expect(index.stats().waiters).toBe(1);

      const refused = await Promise.all(Array.from({ length: 5 }, poll));
      for (const r of refused) {
        expect(r.status).toBe(503);
        expect(await r.json()).toMatchObject({ code: 'TRIB_CHANGES_TOO_MANY_CLIENTS' });
      }
      const ws = new WebSocket(`${url.replace('http', 'ws')}/db/_changes?feed=websocket`, { headers: auth });
      const wsClose = await new Promise<number>((r, j) => ws.once('close', r).once('error', j));
      expect(wsClose).toBe(1013);
      expect(server.stats().counters.refused_too_many_clients).toBe(6);
      expect(server.stats().waitingClients).toBe(MAX);

      // A write to the cluster wakes every admitted client with exactly that document.
      bucket.upsert('after', { channels: ['news'] });
      const bodies = await Promise.all(
        admitted.map(async (p) => (await (await p).json()) as { results: { id: string }[] }),
      );
      for (const b of bodies) expect(b.results.map((r) => r.id)).toEqual(['after']);
      await waitFor('slots released', () => server.stats().waitingClients === 0, { timeoutMs: 5000 });
      expect((await poll()).status).toBe(200); // room again (answers at once: 'after' is past last_seq)
    } finally {
      await close();
    }
  });
});
