// KV SETs/s against the embedded cluster: one connection, 100-byte values, 1,000 requests in
// flight (pipelined, answered in order). Baseline: the same pipeline of NOOPs (framing ceiling).
import { crc32 } from 'node:zlib';
import type { Measurement, RunOptions, Scenario } from '../scenario.js';
import {
  connect,
  packetReader,
  req,
  type State,
  startClusterProcess,
  teardown,
} from './cluster-dcp-stream.js';

const WINDOW = 1000;
const VBUCKETS = 1024;

async function pipeline(state: State, n: number, make: (i: number) => Buffer): Promise<Measurement> {
  const s = await connect(state.kvPort);
  // PLAIN + SELECT_BUCKET, then the measured pipeline.
  s.write(
    Buffer.concat([
      req(0x21, 1, Buffer.from('PLAIN'), undefined, Buffer.from('\0Administrator\0password')),
      req(0x89, 2, Buffer.from('default')),
    ]),
  );
  let handshake = 2;
  let sent = 0;
  let done = 0;
  let failed = 0;
  let resolveHandshake!: () => void;
  let resolveDone!: () => void;
  const hs = new Promise<void>((r) => (resolveHandshake = r));
  const all = new Promise<void>((r) => (resolveDone = r));
  const fill = () => {
    const batch: Buffer[] = [];
    while (sent < n && sent - done < WINDOW) batch.push(make(sent++));
    if (batch.length) s.write(Buffer.concat(batch));
  };
  s.on(
    'data',
    packetReader((b, off) => {
      if (handshake > 0) {
        if (--handshake === 0) resolveHandshake();
        return;
      }
      if (b.readUInt16BE(off + 6) !== 0) failed++;
      if (++done === n) resolveDone();
      else if (sent - done <= WINDOW / 2) fill();
    }),
  );
  await hs;
  const cpu0 = process.cpuUsage();
  const child0 = await state.cpu();
  const t0 = process.hrtime.bigint();
  fill();
  await all;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const child1 = await state.cpu();
  s.destroy();
  if (failed) throw new Error(`${failed} requests failed`);
  return {
    ops: n,
    seconds,
    extra: {
      clientCpuMs: (cpu.user + cpu.system) / 1000,
      serverCpuMs: (child1.user + child1.system - child0.user - child0.system) / 1000,
    },
  };
}

const value = Buffer.alloc(100, 0x62);
const extras = Buffer.alloc(8);
function setReq(i: number): Buffer {
  const key = Buffer.from(`kv-${i}`);
  const vb = ((crc32(key) >>> 16) & 0x7fff) % VBUCKETS;
  return req(0x01, i, key, extras, value, vb);
}

export const scenario: Scenario<State> = {
  name: 'cluster.kv.set-100b',
  issue: 5,
  unit: 'sets/s',
  setup: async (o: RunOptions) => {
    const state = await startClusterProcess(0);
    // Untimed warm-up of both sides' JIT.
    if (!o.quick) await pipeline(state, 50_000, setReq);
    return state;
  },
  subject: (state, o: RunOptions) => pipeline(state, o.quick ? 20_000 : 300_000, setReq),
  baseline: (state, o: RunOptions) => pipeline(state, o.quick ? 20_000 : 300_000, (i) => req(0x0a, i)),
  teardown,
};
