// Decode throughput of a DCP_MUTATION stream pushed in 64 KiB chunks (issue 3).
// subject  = the full streaming decoder: FrameDecoder.push (reassembly across chunks, magic/length/
//            extras validation, one Packet per frame) plus reading each packet's opcode, vbucket and
//            opaque, which is what a DCP client dispatches on
// baseline = a loop that only reads each header's length fields and skips (no allocation; the JS ceiling)
// peer 'typed-decodeDcpMutation' = the subject plus decodeDcpMutation on every packet: every field
//            materialised (bigint CAS, numbers, Buffer views for key and value)
import { decodeDcpMutation, encodeDcpMutation, FrameDecoder } from '@tributary/codec';
import type { Scenario } from '../scenario.js';

const CHUNK = 64 * 1024;

export interface DecodeState {
  chunks: Buffer[];
  packets: number;
  bytes: number;
  reps: number;
}

export function buildStream(valueBytes: number, totalBytes: number): DecodeState {
  const frames: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; bytes < totalBytes; i++) {
    const f = encodeDcpMutation({
      vbucket: i & 1023,
      opaque: 0x1000 + (i & 1023),
      cas: 0x17a0000000000000n + BigInt(i),
      datatype: 1,
      bySeqno: i + 1,
      revSeqno: 1,
      flags: 0x02000006,
      expiry: 0,
      lockTime: 0,
      key: Buffer.from(`doc-${String(i).padStart(8, '0')}`),
      value: Buffer.alloc(valueBytes, 0x61 + (i % 26)),
    });
    frames.push(f);
    bytes += f.length;
  }
  const stream = Buffer.concat(frames);
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.length; o += CHUNK) chunks.push(stream.subarray(o, o + CHUNK));
  return { chunks, packets: frames.length, bytes: stream.length, reps: 1 };
}

/** FrameDecoder + decodeDcpMutation: what a DCP consumer does per packet. */
export function decodeFull(s: DecodeState): number {
  let n = 0;
  let check = 0;
  for (let r = 0; r < s.reps; r++) {
    const d = new FrameDecoder();
    for (const chunk of s.chunks) {
      const packets = d.push(chunk);
      for (let i = 0; i < packets.length; i++) {
        const m = decodeDcpMutation(packets[i]);
        check += m.bySeqno + m.value.length;
        n++;
      }
    }
  }
  if (check === -1) throw new Error('unreachable');
  return n;
}

/** FrameDecoder, reading each packet's dispatch fields. */
export function decodeFraming(s: DecodeState): number {
  let n = 0;
  let check = 0;
  for (let r = 0; r < s.reps; r++) {
    const d = new FrameDecoder();
    for (const chunk of s.chunks) {
      const packets = d.push(chunk);
      for (let i = 0; i < packets.length; i++) {
        const p = packets[i];
        check += p.opcode + p.vbucket + p.opaque;
      }
      n += packets.length;
    }
  }
  if (check === -1) throw new Error('unreachable');
  return n;
}

/**
 * The ceiling: walk the stream reading each header's key/extras/body length fields and skip,
 * allocating nothing (a header split across chunks is read byte by byte from both chunks).
 */
export function skipLoop(s: DecodeState): number {
  let n = 0;
  let check = 0;
  for (let r = 0; r < s.reps; r++) {
    let prev: Buffer = s.chunks[0];
    let prevStart = 0;
    let chunkStart = 0;
    let next = 0; // absolute offset of the next frame
    for (const chunk of s.chunks) {
      const end = chunkStart + chunk.length;
      while (next + 24 <= end) {
        let body: number;
        if (next >= chunkStart) {
          const o = next - chunkStart;
          check += chunk.readUInt16BE(o + 2) + chunk[o + 4];
          body = chunk.readUInt32BE(o + 8);
        } else {
          const at = (abs: number): number =>
            abs >= chunkStart ? chunk[abs - chunkStart] : prev[abs - prevStart];
          check += ((at(next + 2) << 8) | at(next + 3)) + at(next + 4);
          body = ((at(next + 8) << 24) >>> 0) + ((at(next + 9) << 16) | (at(next + 10) << 8) | at(next + 11));
        }
        if (next + 24 + body > end) break;
        next += 24 + body;
        n++;
      }
      prev = chunk;
      prevStart = chunkStart;
      chunkStart = end;
    }
  }
  if (check === -1) throw new Error('unreachable');
  return n;
}

function timed(f: (s: DecodeState) => number, s: DecodeState) {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const ops = f(s);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return {
    ops,
    seconds,
    extra: {
      mbPerSec: (s.bytes * s.reps) / 1e6 / seconds,
      cpuUserMs: cpu.user / 1000,
      rssMb: process.memoryUsage().rss / 1e6,
    },
  };
}

/** `reps`: passes over the 16 MiB stream per measurement (more for big values, so a run lasts long enough to time). */
export function makeDecodeScenario(name: string, valueBytes: number, goal: boolean, reps = 4): Scenario {
  return {
    name,
    issue: 3,
    unit: 'packets/s',
    ...(goal ? { goal: { text: 'FrameDecoder >= 0.5 x header-skip baseline', ratioAtLeast: 0.5 } } : {}),
    setup: async ({ quick }) => {
      const s = buildStream(valueBytes, quick ? 2 * 1024 * 1024 : 16 * 1024 * 1024);
      s.reps = quick ? 1 : reps;
      // Warm the JIT on every path before the harness measures.
      decodeFull(s);
      decodeFraming(s);
      skipLoop(s);
      return s;
    },
    subject: async (s: DecodeState) => timed(decodeFraming, s),
    baseline: async (s: DecodeState) => timed(skipLoop, s),
    peers: { 'typed-decodeDcpMutation': async (s: DecodeState) => timed(decodeFull, s) },
  } as Scenario;
}

export const scenario: Scenario = makeDecodeScenario('codec.decode.mutation-100b', 100, true);
