// The sub-document commands on a data-node connection: single-path 0xc5..0xd3, multi-path
// lookup 0xd0 and mutation 0xd1 (kv_engine daemon/subdocument.cc: fetch, execute, store, reply).

import { absoluteExpiry } from '../../bucket.js';
import type { Item, VBucket } from '../../vbucket.js';
import type { CommandTable } from '../command-table.js';
import { DT_JSON, DT_XATTR, Feature, type Frame, St } from '../mcbp.js';
import type { Session } from '../session.js';
import { execute, type Input, type Outcome } from './execute.js';
import { rootForNewDocument } from './operations.js';
import { parseMulti, parseSingle, type SubdocRequest } from './request.js';
import { DocFlag, SubdocOp, SubdocStatus } from './status.js';
import { Response, Scope, SINGLE_PATH_OPS, traitsOf } from './traits.js';
import { crc32cOf, type DocumentInfo } from './vattrs.js';
import { bodyOf } from './xattrs.js';

const MAX_VALUE = 20 * 1024 * 1024;

export function registerSubdocCommands(t: CommandTable): void {
  for (const op of SINGLE_PATH_OPS) t.register(op, (s, f) => subdoc(s, f, false));
  t.register(SubdocOp.MultiLookup, (s, f) => subdoc(s, f, true));
  t.register(SubdocOp.MultiMutation, (s, f) => subdoc(s, f, true));
}

function documentInfo(vb: VBucket, it: Item, cas: bigint): DocumentInfo {
  const body = it.datatype & DT_XATTR ? bodyOf(it.value) : it.value;
  return {
    cas,
    vbucketUuid: vb.uuid,
    seqno: it.seqno,
    revSeqno: it.revSeqno,
    exptime: it.expiry,
    flags: it.flags,
    valueBytes: body.length,
    datatype: it.datatype,
    deleted: it.deleted,
    valueCrc32c: crc32cOf(body),
  };
}

const NO_DOCUMENT: DocumentInfo = {
  cas: 0n,
  vbucketUuid: 0n,
  seqno: 0,
  revSeqno: 0,
  exptime: 0,
  flags: 0,
  valueBytes: 0,
  datatype: 0,
  deleted: false,
  valueCrc32c: 0,
};

function subdoc(s: Session, f: Frame, multi: boolean) {
  const mutatorCmd = multi ? f.opcode === SubdocOp.MultiMutation : traitsOf(f.opcode)!.mutator;
  const fi = s.frameInfos(f, mutatorCmd);
  if (!fi) return;
  const key = s.docKey(f);
  if (!key) return;
  const xattrs = s.has(Feature.Xattr);
  const parsed = multi
    ? parseMulti(f.opcode, f.extras, f.value, f.cas, xattrs)
    : parseSingle(f.opcode, f.extras, f.value, f.cas, xattrs);
  if (!parsed.ok) return s.error(f, parsed.status, parsed.context);
  const req = parsed.req;
  const flags = req.docFlags;
  const replicaRead = (flags & DocFlag.ReplicaRead) !== 0;
  const vb = s.vbFor(f, !replicaRead);
  if (!vb) return;
  const b = s.bucket!;
  const cluster = s.ctx.cluster;
  const keyStr = key.toString('latin1');

  // 1. Fetch.
  let it: Item | undefined;
  if (replicaRead) {
    if (cluster.role(s.ctx.index, vb.id) !== 'replica') return s.notMyVbucket(f);
    it = cluster.replication.item(b, vb.id, s.ctx.index, keyStr);
    if (it && (it.deleted || (it.expiry && it.expiry <= Math.floor(Date.now() / 1000)))) it = undefined;
  } else it = (flags & DocFlag.AccessDeleted) !== 0 ? b.current(vb, keyStr) : b.getLive(vb, keyStr);
  const add = (flags & DocFlag.Add) !== 0;
  const mkdoc = (flags & DocFlag.Mkdoc) !== 0;
  const revive = (flags & DocFlag.ReviveDocument) !== 0;
  if (req.mutator && b.syncWrites.get(vb.id)?.has(keyStr)) return s.error(f, 0xa2);
  let input: Input;
  let inCas = f.cas;
  if (it) {
    if (req.mutator && add) return s.error(f, St.KeyEexists);
    if (!replicaRead && !it.deleted && b.locks.isLocked(vb.id, it)) {
      if (f.cas !== b.casOf(vb, it)) return s.error(f, 0x09, 'document is locked');
    } else if (f.cas !== 0n && f.cas !== b.casOf(vb, it)) return s.error(f, St.KeyEexists);
    if (inCas === 0n) inCas = b.casOf(vb, it);
    input = {
      value: it.value,
      datatype: it.datatype,
      deleted: it.deleted,
      info: documentInfo(vb, it, b.casOf(vb, it)),
    };
  } else {
    if (!req.mutator || (!add && !mkdoc)) return s.error(f, St.KeyEnoent);
    if (f.cas !== 0n) return s.error(f, St.KeyEnoent);
    const createDeleted = (flags & DocFlag.CreateAsDeleted) !== 0;
    // The root a new document starts as comes from the first path-based spec (jroot_type).
    const first = req.specs.find((sp) => sp.traits.scope === Scope.SubJson);
    const root = !createDeleted && first ? rootForNewDocument(first.op, first.path) : undefined;
    input = {
      value: Buffer.from(root ?? ''),
      datatype: root ? DT_JSON : 0,
      deleted: createDeleted,
      info: NO_DOCUMENT,
    };
  }
  if (revive && !input.deleted) return s.error(f, SubdocStatus.CanOnlyReviveDeletedDocuments);

  // 2. Execute.
  const out = execute(req, input, add || mkdoc);
  if (!req.mutator) return replyLookup(s, f, req, out, input.deleted, inCas);
  if (out.overall !== SubdocStatus.Success) {
    if (!req.multi) return s.error(f, out.overall);
    const i = out.results.findIndex((r) => r.status !== SubdocStatus.Success);
    const body = Buffer.allocUnsafe(3);
    body[0] = i;
    body.writeUInt16BE(out.results[i].status, 1);
    return s.status(f, SubdocStatus.MultiPathFailure, body);
  }

  // 3. Store.
  let deleted: boolean;
  let value = out.value!;
  let datatype = out.datatype!;
  if (out.deleteDoc && out.noSystemXattrs) {
    deleted = true;
    value = Buffer.alloc(0);
    datatype = 0;
  } else {
    if (input.deleted && !revive && (datatype & DT_XATTR ? bodyOf(value) : value).length > 0)
      return s.error(f, SubdocStatus.DeletedDocumentCantHaveValue, "A deleted document can't have a value");
    deleted = out.deleteDoc ? true : revive ? false : input.deleted;
  }
  if (value.length > MAX_VALUE) return s.error(f, St.E2big, 'document too big');
  const expiry = fi.preserveTtl && it ? it.expiry : absoluteExpiry(req.expiry);
  const prelink = out.prelink;
  const version = {
    value,
    datatype,
    flags: it?.flags ?? 0,
    expiry,
    deleted,
    prelink: prelink ? (cas: bigint, seqno: number) => prelink(value, cas, seqno) : undefined,
  };
  const successStatus = input.deleted && !revive ? SubdocStatus.SuccessDeleted : St.Success;
  s.commitPrepared(vb, keyStr, { status: St.Success, prev: vb.get(keyStr), version }, fi.durability, (r) => {
    if (r.status !== St.Success) return s.error(f, r.status);
    const item = r.item!;
    const extras = s.mutationExtras(vb, item.seqno);
    if (!req.multi) {
      const v = out.results[0].value;
      s.out.response(f.opcode, successStatus, f.opaque, {
        cas: item.cas,
        extras,
        value: v,
        datatype: v && s.has(Feature.Json) ? DT_JSON : 0,
      });
      return;
    }
    const parts: Buffer[] = [];
    out.results.forEach((res, i) => {
      if (req.specs[i].traits.response === Response.None || !res.value?.length) return;
      const h = Buffer.allocUnsafe(7);
      h[0] = i;
      h.writeUInt16BE(St.Success, 1);
      h.writeUInt32BE(res.value.length, 3);
      parts.push(h, res.value);
    });
    s.out.response(f.opcode, successStatus, f.opaque, {
      cas: item.cas,
      extras,
      value: Buffer.concat(parts),
    });
  });
}

function replyLookup(s: Session, f: Frame, req: SubdocRequest, out: Outcome, deleted: boolean, cas: bigint) {
  if (!req.multi) {
    if (out.overall !== SubdocStatus.Success) return s.error(f, out.overall);
    const v = out.results[0].value;
    s.out.response(f.opcode, deleted ? SubdocStatus.SuccessDeleted : St.Success, f.opaque, {
      cas,
      value: v,
      datatype: v && s.has(Feature.Json) ? DT_JSON : 0,
    });
    return;
  }
  let status = out.overall;
  if (deleted) {
    if (status === SubdocStatus.Success) status = SubdocStatus.SuccessDeleted;
    else if (status === SubdocStatus.MultiPathFailure) status = SubdocStatus.MultiPathFailureDeleted;
  }
  const parts: Buffer[] = [];
  out.results.forEach((res, i) => {
    const withValue = req.specs[i].traits.response !== Response.None && res.status === St.Success;
    const v = withValue ? (res.value ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const h = Buffer.allocUnsafe(6);
    h.writeUInt16BE(res.status, 0);
    h.writeUInt32BE(v.length, 2);
    parts.push(h, v);
  });
  s.out.response(f.opcode, status, f.opaque, { cas, value: Buffer.concat(parts) });
}
