// DCP mutations/s streamed from a preloaded embedded cluster (1,024 vbuckets, 100-byte values)
// to a minimal consumer with buffer acks on, and KV sets/s. The cluster runs in a child process
// (this same file, forked) so producer and consumer CPU are measured separately.
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Measurement, RunOptions, Scenario } from '../scenario.js';

const VBUCKETS = 1024;
const VALUE_BYTES = 100;
const BUFFER_SIZE = 20 * 1024 * 1024;
const CHILD_ENV = 'TRIBUTARY_CLUSTER_BENCH_CHILD';

type ChildMsg =
  | { type: 'ready'; kvPort: number; docs: number; preloadSeconds: number; rssMb: number }
  | { type: 'cpu'; user: number; system: number }
  | { type: 'raw-port'; port: number };

// ---- child: the cluster ------------------------------------------------------------------

async function child(): Promise<void> {
  const { startCluster } = await import('@tributary/cluster');
  const docs = Number(process.env.DOCS ?? 1_000_000);
  const cluster = await startCluster({
    nodes: 1,
    vbuckets: VBUCKETS,
    // Ephemeral: the preload skips the store (persistence is off the DCP path either way:
    // the producer streams from the in-memory history for both bucket types).
    buckets: [{ name: 'default', type: 'ephemeral' }],
    users: { Administrator: 'password' },
    allowInsecurePlain: true,
  });
  const b = cluster.bucket('default');
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < docs; i++) b.upsert(`doc-${i}`, value);
  await b.flush();
  const preloadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // A raw server for the baseline: writes pre-encoded mutations as fast as the socket takes them.
  const raw = net.createServer((sock) => {
    sock.once('data', (req) => {
      const n = req.readUInt32BE(0);
      const pkt = Buffer.alloc(24 + 31 + 10 + VALUE_BYTES);
      pkt[0] = 0x80;
      pkt[1] = 0x57;
      pkt.writeUInt16BE(10, 2);
      pkt[4] = 31;
      pkt.writeUInt32BE(31 + 10 + VALUE_BYTES, 8);
      const per = Math.floor((256 * 1024) / pkt.length);
      const chunk = Buffer.concat(Array.from({ length: per }, () => pkt));
      let left = n;
      const pump = () => {
        while (left > 0) {
          const k = Math.min(per, left);
          left -= k;
          const ok = sock.write(k === per ? chunk : chunk.subarray(0, k * pkt.length));
          if (!ok) return void sock.once('drain', pump);
        }
      };
      pump();
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ type: 'cpu', user: u.user, system: u.system });
    } else if (m.type === 'stop') {
      raw.close();
      void cluster.close().then(() => process.exit(0));
    }
  });
  process.send!({ type: 'raw-port', port: (raw.address() as net.AddressInfo).port });
  process.send!({
    type: 'ready',
    kvPort: cluster.nodes[0].kvPort,
    docs,
    preloadSeconds,
    rssMb: Math.round(process.memoryUsage().rss / 1048576),
  });
}

// ---- parent: the minimal consumer --------------------------------------------------------

export interface State {
  proc: ChildProcess;
  kvPort: number;
  rawPort: number;
  docs: number;
  cpu(): Promise<{ user: number; system: number }>;
}

function header(
  opcode: number,
  keyLen: number,
  extLen: number,
  bodyLen: number,
  opaque: number,
  vb = 0,
): Buffer {
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = opcode;
  h.writeUInt16BE(keyLen, 2);
  h[4] = extLen;
  h.writeUInt16BE(vb, 6);
  h.writeUInt32BE(bodyLen, 8);
  h.writeUInt32BE(opaque, 12);
  return h;
}

export function req(
  opcode: number,
  opaque: number,
  key = Buffer.alloc(0),
  extras = Buffer.alloc(0),
  value = Buffer.alloc(0),
  vb = 0,
): Buffer {
  return Buffer.concat([
    header(opcode, key.length, extras.length, key.length + extras.length + value.length, opaque, vb),
    extras,
    key,
    value,
  ]);
}

/** Reads packets from a socket; `onPacket(buf, off, len)` sees each whole packet. */
export function packetReader(
  onPacket: (b: Buffer, off: number, len: number) => void,
): (chunk: Buffer) => void {
  let rest: Buffer | undefined;
  return (chunk) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 24) {
      const len = 24 + buf.readUInt32BE(off + 8);
      if (buf.length - off < len) break;
      onPacket(buf, off, len);
      off += len;
    }
    rest = off < buf.length ? buf.subarray(off) : undefined;
  };
}

export async function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
    s.setNoDelay(true);
  });
}

/** PLAIN auth + DCP open + buffer size control, pipelined; resolves after the last reply. */
async function dcpHandshake(s: net.Socket, name: string): Promise<void> {
  const plain = Buffer.from('\0Administrator\0password');
  const open = Buffer.alloc(8);
  open.writeUInt32BE(1, 4);
  s.write(
    Buffer.concat([
      req(0x21, 1, Buffer.from('PLAIN'), undefined, plain),
      req(0x89, 2, Buffer.from('default')),
      req(0x50, 3, Buffer.from(name), open),
      req(0x5e, 4, Buffer.from('connection_buffer_size'), undefined, Buffer.from(String(BUFFER_SIZE))),
    ]),
  );
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    const onData = packetReader((b, off) => {
      const status = b.readUInt16BE(off + 6);
      if (status !== 0)
        reject(new Error(`handshake op 0x${b[off + 1].toString(16)} failed: 0x${status.toString(16)}`));
      if (++got === 4) {
        s.off('data', onData);
        resolve();
      }
    });
    s.on('data', onData);
  });
}

async function streamAll(state: State): Promise<Measurement> {
  const s = await connect(state.kvPort);
  await dcpHandshake(s, `bench:${process.pid}:${Date.now()}`);
  const cpu0 = process.cpuUsage();
  const child0 = await state.cpu();
  const t0 = process.hrtime.bigint();
  let mutations = 0;
  let ends = 0;
  let unacked = 0;
  let bytes = 0;
  const ackBuf = header(0x5d, 0, 4, 4, 0);
  const done = new Promise<void>((resolve, reject) => {
    s.on(
      'data',
      packetReader((b, off, len) => {
        bytes += len;
        const op = b[off + 1];
        if (b[off] === 0x81) {
          if (op === 0x53 && b.readUInt16BE(off + 6) !== 0) reject(new Error('stream request refused'));
          return;
        }
        if (op === 0x57) mutations++;
        else if (op === 0x55 && ++ends === VBUCKETS) resolve();
        if (op !== 0x5c) {
          unacked += len;
          if (unacked >= BUFFER_SIZE / 2) {
            const ack = Buffer.concat([ackBuf, Buffer.alloc(4)]);
            ack.writeUInt32BE(unacked, 24);
            unacked = 0;
            s.write(ack);
          }
        }
      }),
    );
    s.on('error', reject);
  });
  const reqs: Buffer[] = [];
  for (let vb = 0; vb < VBUCKETS; vb++) {
    const e = Buffer.alloc(48);
    e.writeUInt32BE(0x04, 0); // to latest: each stream ends once the preload is delivered
    e.writeBigUInt64BE(0xffffffffffffffffn, 16);
    reqs.push(req(0x53, vb + 1, undefined, e, undefined, vb));
  }
  s.write(Buffer.concat(reqs));
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const child1 = await state.cpu();
  s.destroy();
  return {
    ops: mutations,
    seconds,
    extra: {
      mbPerSec: bytes / 1048576 / seconds,
      consumerCpuMs: (cpu.user + cpu.system) / 1000,
      producerCpuMs: (child1.user + child1.system - child0.user - child0.system) / 1000,
      // Per mutation: steadier than the rate on a shared machine.
      producerNsPerMutation: ((child1.user + child1.system - child0.user - child0.system) * 1000) / mutations,
    },
  };
}

async function rawCeiling(state: State): Promise<Measurement> {
  const s = await connect(state.rawPort);
  const t0 = process.hrtime.bigint();
  let n = 0;
  const want = state.docs;
  const done = new Promise<void>((resolve) => {
    s.on(
      'data',
      packetReader((b, off) => {
        if (b[off + 1] === 0x57 && ++n === want) resolve();
      }),
    );
  });
  const r = Buffer.alloc(4);
  r.writeUInt32BE(want);
  s.write(r);
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  s.destroy();
  return { ops: n, seconds };
}

/** Forks the cluster process with `docs` preloaded documents. */
export async function startClusterProcess(docs: number): Promise<State> {
  const proc = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, [CHILD_ENV]: '1', DOCS: String(docs) },
    // TRIBUTARY_CLUSTER_BENCH_PROF=<dir> writes a CPU profile of the cluster process there.
    execArgv: process.env.TRIBUTARY_CLUSTER_BENCH_PROF
      ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${process.env.TRIBUTARY_CLUSTER_BENCH_PROF}`]
      : process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let rawPort = 0;
  const ready = await new Promise<Extract<ChildMsg, { type: 'ready' }>>((resolve, reject) => {
    proc.on('message', (m: ChildMsg) => {
      if (m.type === 'raw-port') rawPort = m.port;
      if (m.type === 'ready') resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`cluster child exited with ${code}`)));
  });
  const cpu = () =>
    new Promise<{ user: number; system: number }>((resolve) => {
      const on = (m: ChildMsg) => {
        if (m.type === 'cpu') {
          proc.off('message', on);
          resolve(m);
        }
      };
      proc.on('message', on);
      proc.send({ type: 'cpu' });
    });
  return { proc, kvPort: ready.kvPort, rawPort, docs: ready.docs, cpu };
}

export async function teardown(state: State): Promise<void> {
  const exited = new Promise<void>((r) => state.proc.once('exit', () => r()));
  state.proc.send({ type: 'stop' });
  await exited;
}

async function setup(o: RunOptions): Promise<State> {
  const state = await startClusterProcess(o.quick ? 50_000 : 1_000_000);
  // One untimed pass warms the JIT on both sides (the first pass runs ~3x slower).
  if (!o.quick) await streamAll(state);
  return state;
}

export const scenario: Scenario<State> = {
  name: 'cluster.dcp.stream-1024vb-100b',
  issue: 5,
  unit: 'mutations/s',
  goal: { text: '>= 1,000,000 mutations/s streamed from a preloaded bucket', absoluteAtLeast: 1_000_000 },
  setup,
  subject: streamAll,
  baseline: rawCeiling,
  teardown,
};

if (process.env[CHILD_ENV] === '1' && process.send) {
  void child().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
