import { createScramProvider } from '@tributary/auth-scram';
import type { Cluster } from '@tributary/cluster';
import { encodePacket, Magic, Opcode } from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import { isTributaryError, staticCredentials } from '@tributary/core';
import { createBucketDataSource } from '@tributary/datasource';
import { createMetrics } from '@tributary/metrics';
import { createMutationStreamClient, createMutationStreamServer } from '@tributary/transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET, type Indexer, startIndexer, startTestCluster, waitFor } from '../support/pipeline.js';
import { badFrames, sendRaw } from '../support/raw.js';
import { openStore } from '../support/scenario.js';

const FRAMES = Number(process.env.E2E_FUZZ_FRAMES ?? 40);

const versionReq = () =>
  encodePacket({
    magic: Magic.Request,
    opcode: Opcode.Version,
    opaque: 7,
    vbucket: 0,
    cas: 0n,
    key: Buffer.alloc(0),
    extras: Buffer.alloc(0),
    value: Buffer.alloc(0),
  } as never);

let cluster: Cluster;
let indexer: Indexer;
let cleanup: () => void;

beforeAll(async () => {
  cluster = await startTestCluster(1);
  const s = openStore('lmdb', 'security');
  cleanup = () => {
    s.cleanup();
  };
  indexer = await startIndexer({ store: s.store });
});
afterAll(async () => {
  await indexer?.close();
  await cluster?.close();
  cleanup?.();
});

describe('fuzz: every listener survives random and mutated frames', () => {
  it('data node: bad frames close that connection, are counted, and the node still answers', {
    timeout: 60_000,
  }, async () => {
    const port = cluster.nodes[0]!.kvPort;
    const before = (cluster.stats() as { counters: Record<string, number> }).counters.malformed_frames ?? 0;
    let closed = 0;
    for (const f of badFrames(versionReq(), FRAMES, 1))
      if ((await sendRaw(port, f, 1000)).outcome === 'closed') closed++;
    const after = (cluster.stats() as { counters: Record<string, number> }).counters.malformed_frames ?? 0;
    expect(closed).toBeGreaterThanOrEqual(FRAMES / 2);
    expect(after - before).toBeGreaterThan(0);
    const ok = await sendRaw(port, versionReq(), 300);
    expect(ok.reply.length).toBeGreaterThanOrEqual(24); // a VERSION response: the process is up
    expect(ok.reply[0]).toBe(Magic.Response);
  });

  it('mutation stream server (transport): bad frames close that connection, are counted, real clients still stream', {
    timeout: 60_000,
  }, async () => {
    const port = indexer.endpoint.port;
    let closed = 0;
    // A well-formed transport header is 16 bytes; junk in every shape must be refused.
    const valid = Buffer.alloc(16);
    for (const f of badFrames(valid, FRAMES, 2))
      if ((await sendRaw(port, f, 1000)).outcome === 'closed') closed++;
    expect(closed).toBeGreaterThanOrEqual(FRAMES / 2);
    const st = indexer.server.stats();
    expect(st.malformedFrames + st.errors).toBeGreaterThan(0);
    const client = createMutationStreamClient({ endpoint: indexer.endpoint, factory: createTcpFactory() });
    await client.connect();
    await client.beginVbucket(1, 42n, { startSeqno: 0 });
    await client.send({
      vbucket: 1,
      seqno: 1,
      vbuuid: 42n,
      key: Buffer.from('fuzz-ok'),
      value: Buffer.from('{"channels":["z"]}'),
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    });
    await client.close();
    await waitFor('the mutation to be indexed', async () => (await indexer.getMeta(1)).lastSeq >= 1);
  });

  it('_changes HTTP: garbage requests are closed, the server keeps serving', {
    timeout: 60_000,
  }, async () => {
    const port = Number(new URL(indexer.url).port);
    let closed = 0;
    const valid = Buffer.from('GET /db/_changes HTTP/1.1\r\nHost: x\r\n\r\n');
    for (const f of badFrames(valid, FRAMES, 3))
      if ((await sendRaw(port, f, 1000)).outcome === 'closed') closed++;
    expect(closed).toBeGreaterThanOrEqual(FRAMES / 2);
    const res = await fetch(`${indexer.url}/db/_changes?since=0&limit=1`, {
      headers: { authorization: `Basic ${Buffer.from('admin:admin-pw').toString('base64')}` },
    });
    expect(res.status).toBe(200);
  });
});

describe('auth: nobody gets in, nothing crashes', () => {
  it('cluster (REST + data node): wrong password and unknown user are refused (TRIB_AUTH_FAILED), no data', {
    timeout: 60_000,
  }, async () => {
    for (const auth of [
      { username: 'Administrator', password: 'wrong' },
      { username: 'nobody', password: 'x' },
    ]) {
      const errors: unknown[] = [];
      let data = 0;
      const ds = createBucketDataSource({
        serverUrls: [cluster.managementUrl],
        bucketName: BUCKET,
        auth,
        receiver: {
          onError: (e) => errors.push(e),
          dataUpdate: () => void data++,
          dataDelete: () => void data++,
          snapshotStart: () => {},
          setMetaData: () => {},
          getMetaData: () => ({ lastSeq: 0 }),
          rollback: () => {},
        },
        options: { seqnoPollIntervalMs: 0 },
      });
      await ds.start().catch((e) => errors.push(e));
      await waitFor('an auth failure', () => errors.some((e) => isTributaryError(e, 'TRIB_AUTH_FAILED')), {
        timeoutMs: 15_000,
      }).catch(() => {});
      await ds.close();
      expect(
        errors.map((e) => `${(e as { code?: string }).code}: ${(e as Error).message}`.slice(0, 160)),
      ).toContainEqual(expect.stringMatching(/^TRIB_AUTH_FAILED/));
      expect(data).toBe(0);
    }
  });

  it('data node: SASL PLAIN on a plain socket is refused without checking the password', {
    timeout: 30_000,
  }, async () => {
    const plain = encodePacket({
      magic: Magic.Request,
      opcode: Opcode.SaslAuth,
      opaque: 1,
      vbucket: 0,
      cas: 0n,
      key: Buffer.from('PLAIN'),
      extras: Buffer.alloc(0),
      value: Buffer.from('\0Administrator\0password'),
    } as never);
    const r = await sendRaw(cluster.nodes[0]!.kvPort, plain, 500);
    expect(r.reply.length).toBeGreaterThanOrEqual(24);
    expect(r.reply.readUInt16BE(6)).not.toBe(0); // a non-success status
  });

  it('mutation stream: wrong password / unknown user refused; the server keeps serving', {
    timeout: 60_000,
  }, async () => {
    const provider = createScramProvider({ iterations: 4096 });
    const server = createMutationStreamServer({
      listen: { host: '127.0.0.1', port: 0 },
      factory: createTcpFactory(),
      auth: { provider, credentials: staticCredentials({ alice: 'wonderland' }) },
      metrics: createMetrics(),
    });
    const endpoint = await server.start();
    const drain = (async () => {
      for await (const _ of server) {
        /* events */
      }
    })();
    try {
      for (const [username, password] of [
        ['alice', 'nope'],
        ['mallory', 'x'],
      ] as const) {
        const c = createMutationStreamClient({
          endpoint,
          factory: createTcpFactory(),
          auth: { provider, username, password },
          backoff: { startMs: 10, maxMs: 20 },
        });
        const err = await c.connect().then(
          () => undefined,
          (e) => e,
        );
        await c.close({ drain: false });
        expect((err as { code?: string })?.code).toBe('TRIB_AUTH_FAILED');
      }
      const good = createMutationStreamClient({
        endpoint,
        factory: createTcpFactory(),
        auth: { provider, username: 'alice', password: 'wonderland' },
      });
      await good.connect();
      await good.beginVbucket(3, 1n, { startSeqno: 0 });
      await good.close();
    } finally {
      await server.close();
      await drain;
    }
  });
});

describe('limits: refused cleanly', () => {
  it('mutation stream: an oversized frame closes that connection only', { timeout: 30_000 }, async () => {
    // A frame header announcing 64 MiB (far over maxFrameBytes) must be refused from the header alone.
    const hdr = Buffer.alloc(16);
    const probe = await sendRaw(indexer.endpoint.port, Buffer.alloc(16), 500);
    void probe;
    hdr.writeUInt32BE(64 * 1024 * 1024, 12);
    const r = await sendRaw(indexer.endpoint.port, hdr, 1000);
    expect(r.outcome).toBe('closed');
    const res = await fetch(`${indexer.url}/db/_changes?since=0&limit=1`, {
      headers: { authorization: `Basic ${Buffer.from('admin:admin-pw').toString('base64')}` },
    });
    expect(res.status).toBe(200);
  });

  it('data node: an oversized frame closes that connection only', { timeout: 30_000 }, async () => {
    const big = versionReq();
    big.writeUInt32BE(0x7fffffff, 8); // total body length
    const r = await sendRaw(cluster.nodes[0]!.kvPort, big, 1000);
    expect(r.outcome).toBe('closed');
    const ok = await sendRaw(cluster.nodes[0]!.kvPort, versionReq(), 300);
    expect(ok.reply[0]).toBe(Magic.Response);
  });
});
