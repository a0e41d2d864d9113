// Mutation stream throughput on loopback, 100-byte values, 64 vbuckets, with 1 and 4 connections (issue 8).
// subject  = createMutationStreamClient → createMutationStreamServer, the application draining the
//            async iterator; a mutation counts when the application has it (send() resolved = acked)
// baseline = the same 100-byte payloads over bare length-prefixed framing (one connection, 64 KiB writes)
// peers    = @grpc/grpc-js bidirectional streaming of the same payloads
import { createTcpFactory } from '@tributary/connection-tcp';
import {
  createMutationStreamClient,
  createMutationStreamServer,
  type Mutation,
  type MutationStreamClient,
  type MutationStreamServer,
} from '@tributary/transport';
import type { Measurement, Scenario } from '../scenario.js';
import {
  type BarePair,
  barePair,
  type GrpcPair,
  grpcPair,
  PAYLOAD,
  runBarePosts,
  runGrpcPosts,
} from './transport-post.js';

const VBUCKETS = 64;

interface State {
  server: MutationStreamServer;
  client: MutationStreamClient;
  delivered: number;
  seqnos: number[];
  bare: BarePair;
  grpc: GrpcPair;
  n: number;
  nGrpc: number;
}

async function runMutations(s: State, n: number): Promise<Measurement> {
  const t0 = process.hrtime.bigint();
  const start = s.delivered;
  const keys = Array.from({ length: VBUCKETS }, (_, vb) => Buffer.from(`key-${vb}`));
  let last: Promise<void> = Promise.resolve();
  for (let i = 0; i < n; i++) {
    const vb = i % VBUCKETS;
    const m: Mutation = {
      vbucket: vb,
      seqno: ++s.seqnos[vb],
      vbuuid: 1n,
      key: keys[vb] as Buffer,
      value: PAYLOAD,
      kind: 'mutation',
      cas: 1n,
      flags: 0,
      expiry: 0,
    };
    last = s.client.send(m);
    // Let acks in now and then; keep the unacknowledged window bounded (back-pressure).
    if ((i & 8191) === 8191) {
      if (s.client.inFlight > 65_536) await last;
      else await new Promise((r) => setImmediate(r));
    }
  }
  await last;
  while (s.delivered - start < n) await new Promise((r) => setImmediate(r));
  return { ops: n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

function make(connections: number): Scenario<State> {
  return {
    name: `transport.mutation-stream.conn-${connections}`,
    issue: 8,
    unit: 'mutations/s',
    setup: async ({ quick }) => {
      const factory = createTcpFactory();
      const server = createMutationStreamServer({ listen: { host: '127.0.0.1', port: 0 }, factory });
      const endpoint = await server.start();
      const client = createMutationStreamClient({ endpoint, factory, connections, maxInFlight: 1 << 17 });
      await client.connect();
      const s: State = {
        server,
        client,
        delivered: 0,
        seqnos: new Array(VBUCKETS).fill(0),
        bare: await barePair(false),
        grpc: await grpcPair(false),
        n: quick ? 50_000 : 400_000,
        nGrpc: quick ? 5_000 : 30_000,
      };
      (async () => {
        for await (const ev of server) if (ev.type === 'batch') s.delivered += ev.mutations.length;
      })();
      await Promise.all(Array.from({ length: VBUCKETS }, (_, vb) => client.beginVbucket(vb, 1n)));
      await runMutations(s, 20_000);
      await runBarePosts(s.bare, 20_000);
      await runGrpcPosts(s.grpc, 1_000);
      return s;
    },
    subject: (s) => runMutations(s, s.n),
    baseline: (s) => runBarePosts(s.bare, s.n),
    peers: { 'grpc-js': (s) => runGrpcPosts(s.grpc, s.nGrpc) },
    teardown: async (s) => {
      await s.client.close();
      await s.server.close();
      await s.bare.close();
      await s.grpc.close();
    },
  };
}

export const scenarios: Scenario<State>[] = [make(1), make(4)];
