// GET_META 0xa0 (what the SDKs' exists() sends): extras in the request are empty or one byte,
// the format version (2 adds the datatype). The reply's extras: deleted u32, flags u32, expiry
// u32 (the deletion time for a tombstone), rev seqno u64 [, datatype u8]; the CAS in the
// header. Tombstones answer with deleted = 1; a document never written answers KEY_ENOENT.

import type { CommandTable } from '../command-table.js';
import type { Frame } from '../mcbp.js';
import { St } from '../mcbp.js';
import type { Session } from '../session.js';

export function registerGetMetaCommands(t: CommandTable): void {
  t.register(0xa0, getMeta);
}

function getMeta(s: Session, f: Frame) {
  if (!s.frameInfos(f)) return;
  if (f.extras.length > 1 || f.value.length)
    return s.error(f, St.Einval, 'GET_META takes at most a version byte');
  const version = f.extras.length ? f.extras[0] : 1;
  if (version !== 1 && version !== 2) return s.error(f, St.Einval, 'unknown GET_META version');
  const vb = s.vbFor(f);
  if (!vb) return;
  const key = s.docKey(f);
  if (!key) return;
  const b = s.bucket!;
  const it = b.current(vb, key.toString('latin1'));
  if (!it) return s.error(f, St.KeyEnoent);
  const e = Buffer.alloc(version === 2 ? 21 : 20);
  e.writeUInt32BE(it.deleted ? 1 : 0, 0);
  e.writeUInt32BE(it.flags >>> 0, 4);
  e.writeUInt32BE((it.deleted ? it.deleteTime : it.expiry) >>> 0, 8);
  e.writeBigUInt64BE(BigInt(it.revSeqno), 12);
  if (version === 2) e[20] = it.datatype;
  s.ok(f, undefined, b.casOf(vb, it), 0, e);
}
