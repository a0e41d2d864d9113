// Request round trips on loopback, 100-byte messages, with 1 and 64 in flight (issue 8).
// subject  = @tributary/transport request() (one reply per request, batched writes)
// baseline = bare length-prefixed framing over node:net, the server echoing each frame
// peers    = @grpc/grpc-js bidirectional streaming, the server echoing each message
import type { Scenario } from '../scenario.js';
import {
  type BarePair,
  barePair,
  type GrpcPair,
  grpcPair,
  runBareRequests,
  runGrpcRequests,
  runRequests,
  type TransportPair,
  transportPair,
} from './transport-post.js';

interface State {
  t: TransportPair;
  bare: BarePair;
  grpc: GrpcPair;
  n: number;
  nGrpc: number;
}

function make(inFlight: number): Scenario<State> {
  return {
    name: `transport.request.inflight-${inFlight}`,
    issue: 8,
    unit: 'round trips/s',
    setup: async ({ quick }) => {
      const s: State = {
        t: await transportPair(),
        bare: await barePair(true),
        grpc: await grpcPair(true),
        n: (quick ? 5_000 : 40_000) * (inFlight > 1 ? 4 : 1),
        nGrpc: quick ? 2_000 : 10_000,
      };
      await runRequests(s.t, 2_000, inFlight);
      await runBareRequests(s.bare, 2_000, inFlight);
      await runGrpcRequests(s.grpc, 1_000, inFlight);
      return s;
    },
    subject: (s) => runRequests(s.t, s.n, inFlight),
    baseline: (s) => runBareRequests(s.bare, s.n, inFlight),
    peers: { 'grpc-js': (s) => runGrpcRequests(s.grpc, s.nGrpc, inFlight) },
    teardown: async (s) => {
      await s.t.close();
      await s.bare.close();
      await s.grpc.close();
    },
  };
}

export const scenarios: Scenario<State>[] = [make(1), make(64)];
