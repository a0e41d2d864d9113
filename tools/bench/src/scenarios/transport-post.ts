// Transport throughput on loopback, 100-byte messages (issue 8).
// subject  = @tributary/transport post() over one TCP connection (default batching: 64 KiB / end of tick)
// baseline = bare 4-byte length-prefixed framing over node:net, batched into 64 KiB writes (the ceiling)
// peers    = @grpc/grpc-js bidirectional streaming of the same payloads
// This file also holds the shared kit the other transport-*.ts scenarios import.
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { Connection } from '@tributary/core';
import { bytesMessage, createTransport, type Transport } from '@tributary/transport';
import type { Measurement, Scenario } from '../scenario.js';

export const PAYLOAD = Buffer.alloc(100, 0x61);
export const BATCH = 64 * 1024;

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// ---------------------------------------------------------------------------------------------
// Tributary transport pair over real TCP.

export const Msg = bytesMessage(1, 'bench.msg');
export const Reply = bytesMessage(2, 'bench.reply');

export interface TransportPair {
  client: Transport;
  server: Transport;
  received: number;
  close(): Promise<void>;
}

export async function transportPair(): Promise<TransportPair> {
  const factory = createTcpFactory();
  let accepted!: (c: Connection) => void;
  const got = new Promise<Connection>((r) => {
    accepted = r;
  });
  const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (c) => accepted(c));
  const a = await factory.connect(listener.address());
  const b = await got;
  const settings = { heartbeatMs: 0 };
  const client = createTransport(a, { name: 'bench-client', version: 1, settings });
  const server = createTransport(b, { name: 'bench-server', version: 1, settings });
  const pair: TransportPair = {
    client,
    server,
    received: 0,
    close: async () => {
      await Promise.allSettled([client.close(), server.close()]);
      await listener.close();
    },
  };
  let check = 0;
  server.subscribe(Msg, (m, inc) => {
    pair.received++;
    check += m.length;
    if (inc.kind === 'request') inc.reply(Reply, m);
  });
  server.subscribe(Reply);
  client.subscribe(Msg).subscribe(Reply);
  await Promise.all([client.handshake(), server.handshake()]);
  if (check < 0) throw new Error('unreachable');
  return pair;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

export async function runPosts(p: TransportPair, n: number): Promise<Measurement> {
  const start = p.received;
  const t0 = process.hrtime.bigint();
  const t = p.client;
  for (let i = 0; i < n; i++) {
    if (t.writable) void t.post(Msg, PAYLOAD);
    else await t.post(Msg, PAYLOAD);
  }
  t.flush();
  await until(() => p.received - start >= n);
  return { ops: n, seconds: seconds(t0) };
}

export async function runRequests(p: TransportPair, n: number, inFlight: number): Promise<Measurement> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await p.client.request(Msg, PAYLOAD);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { ops: n, seconds: seconds(t0) };
}

// ---------------------------------------------------------------------------------------------
// Bare length-prefixed framing over node:net (the ceiling).

export interface BarePair {
  client: net.Socket;
  server: net.Socket;
  received: number;
  /** Replies come back to the client here (request mode). */
  replies: number;
  onReply: (() => void) | undefined;
  close(): Promise<void>;
}

/** Reads [u32 length][bytes] frames, calling `each` per frame with a view (as a real decoder would). */
function lengthPrefixed(socket: net.Socket, each: (frame: Buffer) => void): void {
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let o = 0;
    while (buf.length - o >= 4) {
      const len = buf.readUInt32BE(o);
      if (buf.length - o - 4 < len) break;
      each(buf.subarray(o + 4, o + 4 + len));
      o += 4 + len;
    }
    if (o < buf.length) pending = Buffer.from(buf.subarray(o));
    buf = undefined as unknown as Buffer;
  });
}

export async function barePair(echo: boolean): Promise<BarePair> {
  let accepted!: (s: net.Socket) => void;
  const got = new Promise<net.Socket>((r) => {
    accepted = r;
  });
  const srv = net.createServer((s) => accepted(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  client.setNoDelay(true);
  const server = await got;
  server.setNoDelay(true);
  const pair: BarePair = {
    client,
    server,
    received: 0,
    replies: 0,
    onReply: undefined,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
  let check = 0;
  // Echo mode answers each request frame at once, batched per read like the transport does.
  lengthPrefixed(server, (f) => {
    pair.received++;
    check += f.length;
    if (echo) {
      const out = Buffer.allocUnsafe(4 + f.length);
      out.writeUInt32BE(f.length, 0);
      f.copy(out, 4);
      server.write(out);
    }
  });
  lengthPrefixed(client, () => {
    pair.replies++;
    pair.onReply?.();
  });
  if (check < 0) throw new Error('unreachable');
  return pair;
}

/** N messages packed into 64 KiB writes, respecting 'drain'. */
export async function runBarePosts(p: BarePair, n: number): Promise<Measurement> {
  const start = p.received;
  const t0 = process.hrtime.bigint();
  let batch = Buffer.allocUnsafe(BATCH);
  let len = 0;
  for (let i = 0; i < n; i++) {
    if (len + 4 + PAYLOAD.length > BATCH) {
      const ok = p.client.write(batch.subarray(0, len));
      batch = Buffer.allocUnsafe(BATCH);
      len = 0;
      if (!ok) await new Promise((r) => p.client.once('drain', r));
    }
    batch.writeUInt32BE(PAYLOAD.length, len);
    PAYLOAD.copy(batch, len + 4);
    len += 4 + PAYLOAD.length;
  }
  if (len > 0) p.client.write(batch.subarray(0, len));
  await until(() => p.received - start >= n);
  return { ops: n, seconds: seconds(t0) };
}

/** Request/response with `inFlight` outstanding; requests written in the same tick go out together. */
export async function runBareRequests(p: BarePair, n: number, inFlight: number): Promise<Measurement> {
  const t0 = process.hrtime.bigint();
  let sent = 0;
  const startReplies = p.replies;
  const frame = Buffer.allocUnsafe(4 + PAYLOAD.length);
  frame.writeUInt32BE(PAYLOAD.length, 0);
  PAYLOAD.copy(frame, 4);
  await new Promise<void>((resolve) => {
    const send = (k: number) => {
      const bufs: Buffer[] = [];
      for (let i = 0; i < k && sent < n; i++, sent++) bufs.push(frame);
      if (bufs.length) p.client.write(bufs.length === 1 ? frame : Buffer.concat(bufs));
    };
    let queued = 0;
    p.onReply = () => {
      if (p.replies - startReplies >= n) {
        p.onReply = undefined;
        resolve();
        return;
      }
      queued++;
      if (queued === 1)
        setImmediate(() => {
          const k = queued;
          queued = 0;
          send(k);
        });
    };
    send(inFlight);
  });
  return { ops: n, seconds: seconds(t0) };
}

// ---------------------------------------------------------------------------------------------
// grpc-js bidirectional streaming.

const METHOD: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/tributary.bench.Bench/Stream',
  requestStream: true,
  responseStream: true,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const SERVICE = { stream: METHOD } as grpc.ServiceDefinition;

export interface GrpcPair {
  server: grpc.Server;
  client: grpc.Client;
  call: grpc.ClientDuplexStream<Buffer, Buffer>;
  received: number;
  replies: number;
  onReply: (() => void) | undefined;
  echo: boolean;
  close(): Promise<void>;
}

export async function grpcPair(echo: boolean): Promise<GrpcPair> {
  const server = new grpc.Server();
  const pair = { received: 0, replies: 0, onReply: undefined, echo } as unknown as GrpcPair;
  server.addService(SERVICE, {
    stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => {
        pair.received++;
        if (pair.echo) call.write(b);
      });
      call.on('end', () => call.end());
    },
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const Ctor = grpc.makeGenericClientConstructor(SERVICE, 'Bench');
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (client as unknown as { stream(): grpc.ClientDuplexStream<Buffer, Buffer> }).stream();
  call.on('data', () => {
    pair.replies++;
    pair.onReply?.();
  });
  call.on('error', () => {});
  Object.assign(pair, {
    server,
    client,
    call,
    close: async () => {
      call.end();
      client.close();
      await new Promise<void>((r) => server.tryShutdown(() => r()));
    },
  });
  return pair;
}

export async function runGrpcPosts(p: GrpcPair, n: number): Promise<Measurement> {
  const start = p.received;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (!p.call.write(PAYLOAD)) await new Promise((r) => p.call.once('drain', r));
  }
  await until(() => p.received - start >= n);
  return { ops: n, seconds: seconds(t0) };
}

export async function runGrpcRequests(p: GrpcPair, n: number, inFlight: number): Promise<Measurement> {
  const t0 = process.hrtime.bigint();
  const start = p.replies;
  let sent = 0;
  await new Promise<void>((resolve) => {
    p.onReply = () => {
      if (p.replies - start >= n) {
        p.onReply = undefined;
        resolve();
      } else if (sent < n) {
        sent++;
        p.call.write(PAYLOAD);
      }
    };
    for (; sent < Math.min(inFlight, n); sent++) p.call.write(PAYLOAD);
  });
  return { ops: n, seconds: seconds(t0) };
}

// ---------------------------------------------------------------------------------------------

interface PostState {
  t: TransportPair;
  bare: BarePair;
  grpc: GrpcPair;
  n: number;
  nGrpc: number;
}

async function setupPost({ quick }: { quick: boolean }): Promise<PostState> {
  const s: PostState = {
    t: await transportPair(),
    bare: await barePair(false),
    grpc: await grpcPair(false),
    n: quick ? 100_000 : 500_000,
    nGrpc: quick ? 5_000 : 30_000,
  };
  // Warm every path.
  await runPosts(s.t, 50_000);
  await runBarePosts(s.bare, 50_000);
  await runGrpcPosts(s.grpc, 2_000);
  return s;
}

async function teardownPost(s: PostState): Promise<void> {
  await s.t.close();
  await s.bare.close();
  await s.grpc.close();
}

export const scenarios: Scenario<PostState>[] = [
  {
    name: 'transport.post',
    issue: 8,
    unit: 'msgs/s',
    goal: { text: 'post >= 0.5 x bare length-prefixed framing (64 KiB writes)', ratioAtLeast: 0.5 },
    setup: setupPost,
    subject: (s) => runPosts(s.t, s.n),
    baseline: (s) => runBarePosts(s.bare, s.n),
    peers: { 'grpc-js': (s) => runGrpcPosts(s.grpc, s.nGrpc) },
    teardown: teardownPost,
  },
  {
    name: 'transport.post.vs-grpc',
    issue: 8,
    unit: 'msgs/s',
    goal: { text: 'post >= 20 x grpc-js bidi streaming', ratioAtLeast: 20, peer: 'grpc-js' },
    setup: setupPost,
    subject: (s) => runPosts(s.t, s.n),
    peers: { 'grpc-js': (s) => runGrpcPosts(s.grpc, s.nGrpc) },
    teardown: teardownPost,
  },
];
