// APPEND 0x0e / PREPEND 0x0f (kv_engine daemon/protocol/mcbp/appendprepend_context.cc): the
// bytes go after (before) the body, the XATTRs, flags and expiry stay, the JSON bit follows
// what the new body is. A missing document answers NOT_STORED; a locked one LOCKED unless the
// request carries the lock's CAS.

import snappy from 'snappy';
import { isJsonValue } from '../../bucket.js';
import type { CommandTable } from '../command-table.js';
import { DT_JSON, DT_SNAPPY, DT_XATTR, Feature, type Frame, St } from '../mcbp.js';
import type { Session } from '../session.js';
import { bodyOf, xattrSectionLength } from '../subdoc/xattrs.js';

const MAX_VALUE = 20 * 1024 * 1024;

export function registerAppendPrependCommands(t: CommandTable): void {
  t.register(0x0e, (s, f) => appendPrepend(s, f, true));
  t.register(0x0f, (s, f) => appendPrepend(s, f, false));
}

function appendPrepend(s: Session, f: Frame, append: boolean) {
  const fi = s.frameInfos(f, true);
  if (!fi) return;
  if (f.extras.length) return s.error(f, St.Einval, 'APPEND/PREPEND take no extras');
  if (f.datatype & ~(DT_JSON | DT_SNAPPY)) return s.error(f, St.Einval, 'invalid datatype');
  let bytes: Buffer = f.value;
  if (f.datatype & DT_SNAPPY) {
    if (!s.has(Feature.Snappy)) return s.error(f, St.Einval, 'Snappy not negotiated');
    try {
      bytes = snappy.uncompressSync(bytes) as Buffer;
    } catch {
      return s.error(f, St.Einval, 'bad snappy value');
    }
  }
  const vb = s.vbFor(f);
  if (!vb) return;
  const key = s.docKey(f);
  if (!key) return;
  const b = s.bucket!;
  const keyStr = key.toString('latin1');
  const cur = b.getLive(vb, keyStr);
  const gate = b.admitWrite(vb, keyStr, cur, f.cas);
  if (gate !== St.Success) return s.error(f, gate);
  if (!cur) return s.error(f, St.NotStored);
  const xattr = (cur.datatype & DT_XATTR) !== 0;
  const section = xattr ? cur.value.subarray(0, xattrSectionLength(cur.value)) : Buffer.alloc(0);
  const old = xattr ? bodyOf(cur.value) : cur.value;
  const body = append ? Buffer.concat([old, bytes]) : Buffer.concat([bytes, old]);
  if (section.length + body.length > MAX_VALUE) return s.error(f, St.E2big, 'value too large');
  const version = {
    value: Buffer.concat([section, body]),
    datatype: (xattr ? DT_XATTR : 0) | (isJsonValue(body) ? DT_JSON : 0),
    flags: cur.flags,
    expiry: cur.expiry,
  };
  s.commitPrepared(vb, keyStr, { status: St.Success, prev: cur, version }, fi.durability, (r) =>
    s.replyWrite(f, vb, r),
  );
}
