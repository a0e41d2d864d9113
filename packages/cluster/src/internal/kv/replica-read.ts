// GET_REPLICA 0x83: a GET answered from this node's replica copy of the vbucket (what
// getAnyReplica / getAllReplicas send to replica nodes). A node that is not a replica of the
// vbucket answers NOT_MY_VBUCKET; the copy answers as it stands, lag included.

import type { CommandTable } from '../command-table.js';
import { DT_XATTR, type Frame, St } from '../mcbp.js';
import type { Session } from '../session.js';
import { bodyOf } from '../subdoc/xattrs.js';

export function registerReplicaReadCommands(t: CommandTable): void {
  t.register(0x83, getReplica);
}

function getReplica(s: Session, f: Frame) {
  if (!s.frameInfos(f)) return;
  if (f.extras.length || f.value.length) return s.error(f, St.Einval, 'GET_REPLICA takes no extras or value');
  const vb = s.vbFor(f, false);
  if (!vb) return;
  const cluster = s.ctx.cluster;
  if (cluster.role(s.ctx.index, vb.id) !== 'replica') return s.notMyVbucket(f);
  const key = s.docKey(f);
  if (!key) return;
  const it = cluster.replication.item(s.bucket!, vb.id, s.ctx.index, key.toString('latin1'));
  if (!it || it.deleted || (it.expiry && it.expiry <= Math.floor(Date.now() / 1000)))
    return s.error(f, St.KeyEnoent);
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(it.flags >>> 0);
  const value = it.datatype & DT_XATTR ? bodyOf(it.value) : it.value;
  s.ok(f, value, it.cas, s.outDatatype(it.datatype), extras);
}
