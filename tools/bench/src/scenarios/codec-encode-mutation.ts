// Encode throughput of DCP_MUTATION packets with 100-byte values (issue 3).
// subject  = encodeDcpMutation (validated fields → one new Buffer)
// baseline = the minimum: allocUnsafe + raw header/extras writes + two copies, no validation
import { type DcpMutation, encodeDcpMutation } from '@tributary/codec';
import type { Scenario } from '../scenario.js';

interface EncodeState {
  items: DcpMutation[];
  reps: number;
  bytes: number;
}

function encodeAll(s: EncodeState): number {
  let check = 0;
  for (let r = 0; r < s.reps; r++) for (const m of s.items) check += encodeDcpMutation(m).length;
  return check;
}

function rawAll(s: EncodeState): number {
  let check = 0;
  for (let r = 0; r < s.reps; r++) {
    for (const m of s.items) {
      const body = 31 + m.key.length + m.value.length;
      const b = Buffer.allocUnsafe(24 + body);
      b[0] = 0x80;
      b[1] = 0x57;
      b.writeUInt16BE(m.key.length, 2);
      b[4] = 31;
      b[5] = m.datatype;
      b.writeUInt16BE(m.vbucket, 6);
      b.writeUInt32BE(body, 8);
      b.writeUInt32BE(m.opaque, 12);
      b.writeBigUInt64BE(m.cas, 16);
      b.writeUInt32BE(0, 24);
      b.writeUInt32BE(m.bySeqno, 28);
      b.writeUInt32BE(0, 32);
      b.writeUInt32BE(m.revSeqno, 36);
      b.writeUInt32BE(m.flags, 40);
      b.writeUInt32BE(m.expiry, 44);
      b.writeUInt32BE(m.lockTime, 48);
      b.writeUInt16BE(0, 52);
      b[54] = 0;
      b.set(m.key, 55);
      b.set(m.value, 55 + m.key.length);
      check += b.length;
    }
  }
  return check;
}

function timed(f: (s: EncodeState) => number, s: EncodeState) {
  const t0 = process.hrtime.bigint();
  const bytes = f(s);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { ops: s.items.length * s.reps, seconds, extra: { mbPerSec: bytes / 1e6 / seconds } };
}

export const scenario: Scenario = {
  name: 'codec.encode.mutation-100b',
  issue: 3,
  unit: 'packets/s',
  setup: async ({ quick }) => {
    const items: DcpMutation[] = [];
    for (let i = 0; i < 10_000; i++) {
      items.push({
        vbucket: i & 1023,
        opaque: i,
        cas: 0x17a0000000000000n + BigInt(i),
        datatype: 1,
        bySeqno: i + 1,
        revSeqno: 1,
        flags: 0,
        expiry: 0,
        lockTime: 0,
        key: Buffer.from(`doc-${String(i).padStart(8, '0')}`),
        value: Buffer.alloc(100, 0x61),
      });
    }
    const s: EncodeState = { items, reps: quick ? 2 : 20, bytes: 0 };
    encodeAll({ ...s, reps: 1 });
    rawAll({ ...s, reps: 1 });
    return s;
  },
  subject: async (s: EncodeState) => timed(encodeAll, s),
  baseline: async (s: EncodeState) => timed(rawAll, s),
} as Scenario;
