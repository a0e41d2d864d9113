// @tributary/datasource throughput (issue 6): mutations/s from a preloaded embedded cluster
// (1,024 vbuckets) into a no-op receiver, side by side with a minimal consumer that only decodes
// frames (the ceiling), at 100-byte and 4 KiB values, with consumer CPU and peak RSS. The
// cluster runs in a child process (this file, forked) so producer CPU is not charged to us.
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Measurement, RunOptions, Scenario } from '../scenario.js';

const VBUCKETS = 1024;
const CHILD_ENV = 'TRIBUTARY_DATASOURCE_BENCH_CHILD';
const BUFFER_SIZE = 20_000_000;

type ChildMsg =
  | { type: 'ready'; kvPort: number; mgmtUrl: string; docs: number }
  | { type: 'cpu'; user: number; system: number };

/**
 * A producer that costs next to nothing: answers the bootstrap and streams pre-encoded mutations
 * per vbucket at socket speed (a copy and a header patch per frame), honouring the flow-control
 * window. It isolates the consumer's cost
 * (the embedded cluster's own producer is the limit in the scenarios above).
 */
async function fakeProducer(docs: number, valueBytes: number): Promise<{ kvPort: number; mgmtUrl: string }> {
  const http = await import('node:http');
  const perVb = Math.ceil(docs / VBUCKETS);
  const hdr = (
    magic: number,
    op: number,
    keyLen: number,
    extLen: number,
    vbOrStatus: number,
    body: number,
    opaque: number,
  ) => {
    const h = Buffer.alloc(24);
    h[0] = magic;
    h[1] = op;
    h.writeUInt16BE(keyLen, 2);
    h[4] = extLen;
    h.writeUInt16BE(vbOrStatus, 6);
    h.writeUInt32BE(body, 8);
    h.writeUInt32BE(opaque, 12);
    return h;
  };
  // Every vbucket streams the same perVb mutations (fixed-width keys, so fixed-size frames): encoded
  // once here; a stream copies them and patches its vbucket and opaque into each frame header.
  const keyLen = 12;
  const frameLen = 24 + 31 + keyLen + valueBytes;
  const template = Buffer.alloc(44 + perVb * frameLen);
  {
    const marker = Buffer.alloc(20);
    marker.writeBigUInt64BE(1n, 0);
    marker.writeBigUInt64BE(BigInt(perVb), 8);
    marker.writeUInt32BE(2, 16);
    hdr(0x80, 0x56, 0, 20, 0, 20, 0).copy(template, 0);
    marker.copy(template, 24);
    const value = Buffer.alloc(valueBytes, 0x61);
    for (let seq = 1; seq <= perVb; seq++) {
      const o = 44 + (seq - 1) * frameLen;
      const h = hdr(0x80, 0x57, keyLen, 31, 0, 31 + keyLen + valueBytes, 0);
      h.writeBigUInt64BE(BigInt(seq), 16); // cas
      h.copy(template, o);
      template.writeBigUInt64BE(BigInt(seq), o + 24); // by seqno
      template.writeBigUInt64BE(1n, o + 32); // rev seqno
      template.write(`doc-${String(seq).padStart(8, '0')}`, o + 55, 'latin1');
      value.copy(template, o + 55 + keyLen);
    }
  }
  const streamBytes = (vb: number, opaque: number): Buffer => {
    const b = Buffer.from(template);
    for (let o = 0; o < b.length; o += o === 0 ? 44 : frameLen) {
      b[o + 6] = vb >>> 8;
      b[o + 7] = vb & 0xff;
      b.writeUInt32BE(opaque >>> 0, o + 12);
    }
    return b;
  };
  const kv = net.createServer((sock) => {
    sock.setNoDelay(true);
    let window = 0;
    let outstanding = 0;
    const queue: { vb: number; opaque: number; bytes?: Buffer; off: number }[] = [];
    let rest: Buffer | undefined;
    let draining = false;
    const pump = () => {
      if (draining) return;
      while (queue.length > 0 && (window === 0 || outstanding < window)) {
        const q = queue[0]!;
        q.bytes ??= streamBytes(q.vb, q.opaque);
        // Whole frames only: up to ~256 KiB, never past the flow-control window by more than that.
        const first = q.off === 0 ? 44 : 0;
        const frames = Math.min(
          Math.ceil((256 * 1024 - first) / frameLen),
          (q.bytes.length - q.off - first) / frameLen,
        );
        const n = first + frames * frameLen;
        const slice = q.bytes.subarray(q.off, q.off + n);
        q.off += n;
        if (q.off >= q.bytes.length) queue.shift();
        outstanding += n;
        if (!sock.write(slice)) {
          draining = true;
          sock.once('drain', () => {
            draining = false;
            pump();
          });
          return;
        }
      }
    };
    sock.on('data', (chunk: Buffer) => {
      const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
      let off = 0;
      const out: Buffer[] = [];
      while (buf.length - off >= 24) {
        const len = 24 + buf.readUInt32BE(off + 8);
        if (buf.length - off < len) break;
        const op = buf[off + 1]!;
        const opaque = buf.readUInt32BE(off + 12);
        const extLen = buf[off + 4]!;
        const keyLen = buf.readUInt16BE(off + 2);
        if (op === 0x5d) outstanding = Math.max(0, outstanding - buf.readUInt32BE(off + 24));
        else if (op === 0x53) {
          const vb = buf.readUInt16BE(off + 6);
          const flog = Buffer.alloc(16);
          flog.writeBigUInt64BE(0xabcdefn, 0);
          out.push(hdr(0x81, 0x53, 0, 0, 0, 16, opaque), flog);
          queue.push({ vb, opaque, off: 0 });
        } else if (op === 0x5e) {
          const k = buf.subarray(off + 24 + extLen, off + 24 + extLen + keyLen).toString();
          if (k === 'connection_buffer_size')
            window = Number(buf.subarray(off + 24 + extLen + keyLen, off + len).toString());
          out.push(hdr(0x81, op, 0, 0, 0, 0, opaque));
        } else if (op === 0x20) {
          const v = Buffer.from('PLAIN');
          out.push(hdr(0x81, op, 0, 0, 0, v.length, opaque), v);
        } else if (op !== 0x5c) out.push(hdr(0x81, op, 0, 0, 0, 0, opaque));
        off += len;
      }
      rest = off < buf.length ? buf.subarray(off) : undefined;
      if (out.length) sock.write(Buffer.concat(out));
      pump();
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => kv.listen(0, '127.0.0.1', () => r()));
  const kvPort = (kv.address() as net.AddressInfo).port;
  const config = JSON.stringify({
    rev: 1,
    name: 'default',
    uuid: 'fake',
    vBucketServerMap: {
      serverList: [`127.0.0.1:${kvPort}`],
      vBucketMap: Array.from({ length: VBUCKETS }, () => [0]),
    },
  });
  const web = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(config);
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  return { kvPort, mgmtUrl: `http://127.0.0.1:${(web.address() as net.AddressInfo).port}` };
}

async function child(): Promise<void> {
  if (process.env.FAKE === '1') {
    const docs = Math.ceil(Number(process.env.DOCS) / VBUCKETS) * VBUCKETS;
    const { kvPort, mgmtUrl } = await fakeProducer(docs, Number(process.env.VALUE_BYTES));
    process.on('message', (m: { type: string }) => {
      if (m.type === 'cpu') {
        const u = process.cpuUsage();
        process.send!({ type: 'cpu', user: u.user, system: u.system });
      } else if (m.type === 'stop') process.exit(0);
    });
    process.send!({ type: 'ready', kvPort, mgmtUrl, docs });
    return;
  }
  const { startCluster } = await import('@tributary/cluster');
  const docs = Number(process.env.DOCS);
  const valueBytes = Number(process.env.VALUE_BYTES);
  const cluster = await startCluster({
    nodes: 1,
    vbuckets: VBUCKETS,
    buckets: [{ name: 'default', type: 'ephemeral' } as never],
    users: { Administrator: 'password' },
    allowInsecurePlain: true,
  });
  const b = cluster.bucket('default');
  const value = Buffer.alloc(valueBytes, 0x61);
  for (let i = 0; i < docs; i++) b.upsert(`doc-${i}`, value);
  await b.flush();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ type: 'cpu', user: u.user, system: u.system });
    } else if (m.type === 'stop') void cluster.close().then(() => process.exit(0));
  });
  process.send!({ type: 'ready', kvPort: cluster.nodes[0]!.kvPort, mgmtUrl: cluster.managementUrl, docs });
}

interface State {
  proc: ChildProcess;
  kvPort: number;
  mgmtUrl: string;
  docs: number;
  cpu(): Promise<{ user: number; system: number }>;
}

/** Runs `body`, sampling RSS every 10 ms; returns its measurement plus CPU and peak RSS. */
async function measured(state: State, body: () => Promise<{ ops: number }>): Promise<Measurement> {
  // memoryUsage.rss() is one syscall; memoryUsage() parses /proc and cost ~0.2 ms a sample here.
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const child0 = await state.cpu();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const { ops } = await body();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const child1 = await state.cpu();
  const producerUs = child1.user + child1.system - child0.user - child0.system;
  return {
    ops,
    seconds,
    extra: {
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      // Per mutation, the figures that stay comparable on a loaded machine (rates do not).
      consumerNsPerMutation: ((cpu.user + cpu.system) * 1000) / ops,
      producerCpuMs: producerUs / 1000,
      producerNsPerMutation: (producerUs * 1000) / ops,
      peakRssMb: Math.round(peak / 1048576),
    },
  };
}

/** The subject: createBucketDataSource into a receiver that does nothing. */
async function datasource(state: State): Promise<Measurement> {
  const { createBucketDataSource } = await import('@tributary/datasource');
  return measured(state, async () => {
    let n = 0;
    const want = state.docs;
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const ds = createBucketDataSource({
      serverUrls: [state.mgmtUrl],
      bucketName: 'default',
      // PLAIN, as the ceiling uses (the cluster allows it on plain TCP; the fake producer only offers it)
      auth: { username: 'Administrator', password: 'password', mechanism: 'PLAIN' },
      receiver: {
        onError: () => {},
        dataUpdate: () => {
          if (++n === want) resolve();
        },
        dataDelete: () => {},
        snapshotStart: () => {},
        setMetaData: () => {},
        getMetaData: () => ({ lastSeq: 0 }),
        rollback: () => {},
      },
      options: { seqnoPollIntervalMs: 0, streamingConfig: false },
    });
    await ds.start();
    await done;
    await ds.close();
    return { ops: n };
  });
}

function req(
  opcode: number,
  opaque: number,
  key = Buffer.alloc(0),
  extras = Buffer.alloc(0),
  value = Buffer.alloc(0),
  vb = 0,
): Buffer {
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(vb, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(opaque, 12);
  return Buffer.concat([h, extras, key, value]);
}

/** The ceiling: one connection, pipelined PLAIN handshake, every stream, frames decoded by the codec and counted. */
async function decodeOnly(state: State): Promise<Measurement> {
  const { FrameDecoder } = await import('@tributary/codec');
  let s!: net.Socket;
  // Connecting is inside the measured window, as the subject's map fetch, connect and bootstrap are.
  const m = await measured(state, async () => {
    s = await new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect({ port: state.kvPort, host: '127.0.0.1' }, () => resolve(c));
      c.once('error', reject);
      c.setNoDelay(true);
    });
    const open = Buffer.alloc(8);
    open.writeUInt32BE(1, 4);
    const out: Buffer[] = [
      req(0x21, 1, Buffer.from('PLAIN'), undefined, Buffer.from('\0Administrator\0password')),
      req(0x89, 2, Buffer.from('default')),
      req(0x50, 3, Buffer.from(`ceiling:${process.pid}:${Date.now()}`), open),
      req(0x5e, 4, Buffer.from('connection_buffer_size'), undefined, Buffer.from(String(BUFFER_SIZE))),
    ];
    for (let vb = 0; vb < VBUCKETS; vb++) {
      const e = Buffer.alloc(48);
      e.writeBigUInt64BE(0xffffffffffffffffn, 16);
      out.push(req(0x53, 0x10000 + vb, undefined, e, undefined, vb));
    }
    const dec = new FrameDecoder();
    let n = 0;
    let unacked = 0;
    const want = state.docs;
    await new Promise<void>((resolve, reject) => {
      s.on('data', (chunk: Buffer) => {
        for (const p of dec.push(chunk)) {
          if (p.magic === 0x81) {
            if (p.status !== 0)
              reject(new Error(`op 0x${p.opcode.toString(16)} failed: 0x${p.status.toString(16)}`));
            continue;
          }
          if (p.opcode === 0x57 && ++n === want) resolve();
          unacked += 24 + p.bodyLength;
        }
        if (unacked >= BUFFER_SIZE * 0.2) {
          const ack = req(0x5d, 0, undefined, Buffer.alloc(4));
          ack.writeUInt32BE(unacked, 24);
          unacked = 0;
          s.write(ack);
        }
      });
      s.on('error', reject);
      s.write(Buffer.concat(out));
    });
    return { ops: n };
  });
  s.destroy();
  return m;
}

function makeSetup(valueBytes: number, docs: number, quickDocs: number, fake = false) {
  return async (o: RunOptions): Promise<State> => {
    const n = o.quick ? quickDocs : docs;
    const proc = fork(fileURLToPath(import.meta.url), [], {
      env: {
        ...process.env,
        [CHILD_ENV]: '1',
        DOCS: String(n),
        VALUE_BYTES: String(valueBytes),
        FAKE: fake ? '1' : '0',
      },
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<Extract<ChildMsg, { type: 'ready' }>>((resolve, reject) => {
      proc.on('message', (m: ChildMsg) => {
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
    return { proc, kvPort: ready.kvPort, mgmtUrl: ready.mgmtUrl, docs: ready.docs, cpu };
  };
}

async function teardown(state: State): Promise<void> {
  const exited = new Promise<void>((r) => state.proc.once('exit', () => r()));
  state.proc.send({ type: 'stop' });
  await exited;
}

export const scenarios: Scenario<State>[] = [
  {
    name: 'datasource.stream.1024vb-100b',
    issue: 6,
    unit: 'mutations/s',
    goal: { text: '>= 0.8 x decode-only ceiling (issue: also >= 1,000,000 mutations/s)', ratioAtLeast: 0.8 },
    setup: makeSetup(100, 1_000_000, 50_000),
    subject: datasource,
    baseline: decodeOnly,
    teardown,
  },
  {
    name: 'datasource.stream.1024vb-4k',
    issue: 6,
    unit: 'mutations/s',
    goal: { text: '>= 0.8 x decode-only ceiling', ratioAtLeast: 0.8 },
    setup: makeSetup(4096, 100_000, 10_000),
    subject: datasource,
    baseline: decodeOnly,
    teardown,
  },
  {
    // The consumer alone: a producer that costs nothing (pre-encoded frames at socket speed).
    name: 'datasource.consume.raw-producer-100b',
    issue: 6,
    unit: 'mutations/s',
    goal: { text: '>= 1,000,000 mutations/s into a no-op receiver', absoluteAtLeast: 1_000_000 },
    setup: makeSetup(100, 2_000_000, 200_000, true),
    subject: datasource,
    baseline: decodeOnly,
    teardown,
  },
];

if (process.env[CHILD_ENV] === '1' && process.send) {
  void child().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
