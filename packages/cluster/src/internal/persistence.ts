// How vbucket state is laid out in a Store plugin.
//   doc key : "c\0" bucket "\0" u16 vb "d" docKey   → item record
//   meta key: "c\0" bucket "\0" u16 vb "m"          → JSON { high, purge, failover: [[uuidHex, seqno]] }
//   prepare : "c\0" bucket "\0" u16 vb "p" docKey   → the value of a durable write in flight
// Item record: u8 kind, u8 datatype, u64 seqno, u64 rev, u64 cas, u32 flags, u32 expiry,
// u32 deleteTime, then the value bytes.
import type { BatchOp, Store } from '@tributary/core';
import { type FailoverEntry, Item, type ItemKind, type VBucket } from '../vbucket.js';
import { readU64n } from './mcbp.js';

const HEADER = 38;

export function vbPrefix(bucket: string, vb: number): Buffer {
  const name = Buffer.from(bucket, 'utf8');
  const b = Buffer.allocUnsafe(2 + name.length + 1 + 2);
  b[0] = 0x63; // 'c'
  b[1] = 0;
  name.copy(b, 2);
  b[2 + name.length] = 0;
  b.writeUInt16BE(vb, 3 + name.length);
  return b;
}

export function docKey(prefix: Buffer, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(prefix.length + 1 + key.length);
  prefix.copy(b, 0);
  b[prefix.length] = 0x64; // 'd'
  key.copy(b, prefix.length + 1);
  return b;
}

/** A durable write's prepare while it waits ("p" records are never loaded: a restart aborts them). */
export function prepareKey(prefix: Buffer, keyStr: string): Buffer {
  return Buffer.concat([prefix, Buffer.from('p'), Buffer.from(keyStr, 'latin1')]);
}

export function metaKey(prefix: Buffer): Buffer {
  return Buffer.concat([prefix, Buffer.from('m')]);
}

export function encodeItem(it: Item): Buffer {
  const b = Buffer.allocUnsafe(HEADER + it.value.length);
  b[0] = it.kind;
  b[1] = it.datatype;
  const w64 = (v: number, o: number) => {
    const hi = Math.floor(v / 0x100000000);
    b.writeUInt32BE(hi, o);
    b.writeUInt32BE(v - hi * 0x100000000, o + 4);
  };
  w64(it.seqno, 2);
  w64(it.revSeqno, 10);
  b.writeBigUInt64BE(it.cas, 18);
  b.writeUInt32BE(it.flags >>> 0, 26);
  b.writeUInt32BE(it.expiry >>> 0, 30);
  b.writeUInt32BE(it.deleteTime >>> 0, 34);
  it.value.copy(b, HEADER);
  return b;
}

export function decodeItem(key: Buffer, rec: Uint8Array): Item {
  const b = Buffer.from(rec.buffer, rec.byteOffset, rec.byteLength);
  const it = new Item(
    key.toString('latin1'),
    Buffer.from(b.subarray(HEADER)),
    b[1],
    b.readUInt32BE(26),
    b.readUInt32BE(30),
    b.readBigUInt64BE(18),
    readU64n(b, 10),
    b[0] as ItemKind,
    b.readUInt32BE(34),
  );
  it.seqno = readU64n(b, 2);
  return it;
}

export interface VbMeta {
  high: number;
  purge: number;
  failover: FailoverEntry[];
}

export function encodeMeta(vb: VBucket): Buffer {
  return Buffer.from(
    JSON.stringify({
      high: vb.highSeqno,
      purge: vb.purgeSeqno,
      failover: vb.failoverLog.map((e) => [e.vbucketUuid.toString(16), e.seqno]),
    }),
  );
}

export function decodeMeta(b: Uint8Array): VbMeta {
  const j = JSON.parse(Buffer.from(b).toString('utf8')) as {
    high: number;
    purge: number;
    failover: [string, number][];
  };
  return {
    high: j.high,
    purge: j.purge,
    failover: j.failover.map(([u, s]) => ({ vbucketUuid: BigInt(`0x${u}`), seqno: s })),
  };
}

/** Ops that persist everything dirty in `vb` (and clear its dirty marks). */
export function flushOps(bucket: string, vb: VBucket, prefix: Buffer, out: BatchOp[]): void {
  for (const [, it] of vb.dirty) {
    if (it === null) continue;
    out.push({ type: 'put', key: docKey(prefix, it.key), value: encodeItem(it) });
  }
  for (const [k, it] of vb.dirty) {
    if (it === null) out.push({ type: 'del', key: docKey(prefix, Buffer.from(k, 'latin1')) });
  }
  vb.dirty.clear();
  if (vb.metaDirty) {
    out.push({ type: 'put', key: metaKey(prefix), value: encodeMeta(vb) });
    vb.metaDirty = false;
  }
  void bucket;
}

/** Loads one vbucket's items and meta from the store. Returns false when nothing was stored. */
export async function loadVbucket(store: Store, prefix: Buffer, vb: VBucket): Promise<boolean> {
  const meta = await store.get(metaKey(prefix));
  if (!meta) return false;
  const m = decodeMeta(meta);
  vb.map.clear();
  const dprefix = Buffer.concat([prefix, Buffer.from('d')]);
  for await (const { key, value } of store.scan({ prefix: dprefix })) {
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).subarray(dprefix.length);
    vb.restore(decodeItem(k, value));
  }
  vb.rebuildLog(m.high);
  vb.purgeSeqno = m.purge;
  vb.failoverLog = m.failover;
  vb.dirty.clear();
  vb.metaDirty = false;
  return true;
}
