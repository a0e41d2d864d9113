// INCREMENT 0x05 / DECREMENT 0x06 (kv_engine docs/BinaryProtocol.md "0x05 Increment",
// daemon/protocol/mcbp/arithmetic_context.cc): extras delta u64, initial u64, expiry u32; the
// document holds the counter as ASCII decimal. A missing counter is created with the initial
// value (flags 0, JSON) unless the expiry is 0xffffffff (then KEY_ENOENT); decrementing stops
// at 0 and incrementing wraps at 2^64. A value that is not an unsigned decimal answers
// DELTA_BADVAL (0x06). The XATTRs, flags and expiry of an existing counter are kept.

import { absoluteExpiry } from '../../bucket.js';
import type { CommandTable } from '../command-table.js';
import { DT_JSON, DT_XATTR, type Frame, St } from '../mcbp.js';
import type { Session } from '../session.js';
import { bodyOf, xattrSectionLength } from '../subdoc/xattrs.js';

const DELTA_BADVAL = 0x06;
const U64 = 2n ** 64n;

export function registerCounterCommands(t: CommandTable): void {
  t.register(0x05, (s, f) => arithmetic(s, f, true));
  t.register(0x06, (s, f) => arithmetic(s, f, false));
}

/** kv_engine safe_strtoull: leading whitespace, digits, then the end or whitespace; no sign. */
export function parseCounter(body: Buffer): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([0-9]+)(?:[ \t\n\v\f\r]|$)/.exec(body.toString('latin1'));
  if (!m) return undefined;
  const v = BigInt(m[1]);
  return v < U64 ? v : undefined;
}

function arithmetic(s: Session, f: Frame, increment: boolean) {
  const fi = s.frameInfos(f, true);
  if (!fi) return;
  if (f.extras.length !== 20 || f.value.length)
    return s.error(f, St.Einval, 'arithmetic needs 20 bytes of extras');
  const vb = s.vbFor(f);
  if (!vb) return;
  const key = s.docKey(f);
  if (!key) return;
  const b = s.bucket!;
  const keyStr = key.toString('latin1');
  const delta = f.extras.readBigUInt64BE(0);
  const initial = f.extras.readBigUInt64BE(8);
  const expiry = f.extras.readUInt32BE(16);
  const cur = b.getLive(vb, keyStr);
  const gate = b.admitWrite(vb, keyStr, cur, f.cas);
  if (gate !== St.Success) return s.error(f, gate);
  let result: bigint;
  let version: { value: Buffer; datatype: number; flags: number; expiry: number };
  if (cur) {
    const body = cur.datatype & DT_XATTR ? bodyOf(cur.value) : cur.value;
    const old = parseCounter(body);
    if (old === undefined) return s.error(f, DELTA_BADVAL, 'the document is not a counter');
    result = increment ? (old + delta) % U64 : old < delta ? 0n : old - delta;
    const section =
      cur.datatype & DT_XATTR ? cur.value.subarray(0, xattrSectionLength(cur.value)) : Buffer.alloc(0);
    version = {
      value: Buffer.concat([section, Buffer.from(result.toString())]),
      datatype: DT_JSON | (section.length ? DT_XATTR : 0),
      flags: cur.flags,
      expiry: cur.expiry,
    };
  } else {
    if (expiry === 0xffffffff) return s.error(f, St.KeyEnoent);
    result = initial;
    version = {
      value: Buffer.from(initial.toString()),
      datatype: DT_JSON,
      flags: 0,
      expiry: absoluteExpiry(expiry),
    };
  }
  s.commitPrepared(vb, keyStr, { status: St.Success, prev: vb.get(keyStr), version }, fi.durability, (r) => {
    if (r.status !== St.Success) return s.error(f, r.status);
    const v = Buffer.allocUnsafe(8);
    v.writeBigUInt64BE(result);
    s.ok(f, v, r.item!.cas, 0, s.mutationExtras(vb, r.item!.seqno));
  });
}
