// GET_LOCKED 0x94 and UNLOCK_KEY 0x95 (kv_engine daemon/protocol/mcbp/get_locked_context.cc,
// ep-engine's getLocked/unlockKey). GET_LOCKED: optional extras u32 lock time in seconds; the
// reply is a GET reply whose CAS is the lock's. A document already locked answers LOCKED.
// UNLOCK_KEY carries the lock's CAS: another CAS answers LOCKED, a document not locked
// NOT_LOCKED (clients without XERROR get TMPFAIL for both, as kv_engine remaps them).

import type { CommandTable } from '../command-table.js';
import { DT_XATTR, type Frame, St } from '../mcbp.js';
import type { Session } from '../session.js';
import { bodyOf } from '../subdoc/xattrs.js';

const LOCKED = 0x09;
const NOT_LOCKED = 0x0e;

export function registerLockCommands(t: CommandTable): void {
  t.register(0x94, getLocked);
  t.register(0x95, unlock);
}

function getLocked(s: Session, f: Frame) {
  if (!s.frameInfos(f)) return;
  if ((f.extras.length !== 0 && f.extras.length !== 4) || f.value.length)
    return s.error(f, St.Einval, 'GET_LOCKED takes a 4-byte lock time or nothing');
  const vb = s.vbFor(f);
  if (!vb) return;
  const key = s.docKey(f);
  if (!key) return;
  const b = s.bucket!;
  const keyStr = key.toString('latin1');
  const it = b.getLive(vb, keyStr);
  if (!it) return s.error(f, St.KeyEnoent);
  if (b.syncWrites.get(vb.id)?.has(keyStr)) return s.error(f, 0xa2);
  if (b.locks.isLocked(vb.id, it)) return s.error(f, LOCKED, 'document is locked');
  const cas = b.nextCas();
  b.locks.lock(vb.id, it, cas, f.extras.length ? f.extras.readUInt32BE(0) : 0);
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(it.flags >>> 0);
  const value = it.datatype & DT_XATTR ? bodyOf(it.value) : it.value;
  s.ok(f, value, cas, s.outDatatype(it.datatype), extras);
}

function unlock(s: Session, f: Frame) {
  if (!s.frameInfos(f)) return;
  if (f.extras.length || f.value.length) return s.error(f, St.Einval, 'UNLOCK_KEY takes no extras or value');
  const vb = s.vbFor(f);
  if (!vb) return;
  const key = s.docKey(f);
  if (!key) return;
  const b = s.bucket!;
  const it = b.getLive(vb, key.toString('latin1'));
  if (!it) return s.error(f, St.KeyEnoent);
  if (!b.locks.isLocked(vb.id, it)) return s.error(f, NOT_LOCKED, 'document is not locked');
  if (f.cas !== b.casOf(vb, it)) return s.error(f, LOCKED, 'the CAS is not the lock CAS');
  b.locks.unlock(vb.id, it);
  s.ok(f);
}
