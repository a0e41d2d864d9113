// Sub-document commands on the wire: request validation, the single and multi-path reply
// layouts, per-path and overall status codes, XATTRs, virtual attributes, macros, and the
// document flags, each as kv_engine's docs (docs/SubDocument.md, docs/BinaryProtocol.md,
// docs/ExtendedAttributes.md) and its validators give them.
import { HelloFeature, Magic, Status } from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { DocFlag, SubdocOp as Op, PathFlag, SubdocStatus as S } from '../src/internal/subdoc/status.js';
import { Macro } from '../src/internal/subdoc/vattrs.js';
import { parseXattrs } from '../src/internal/subdoc/xattrs.js';
import { bootstrap, FEATURES, TestClient } from './helpers/client.js';
import {
  lookupResults,
  multiExtras,
  multiValue,
  mutationResults,
  type SpecInput,
  singleExtras,
} from './helpers/subdoc.js';

let cluster: Cluster;
let c: TestClient;
const VBS = 16;
const X = PathFlag.XattrPath;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 1,
    vbuckets: VBS,
    buckets: ['default'],
    users: { Administrator: 'password' },
  });
  c = await TestClient.connect(cluster.nodes[0].kvPort);
  await bootstrap(c, { bucket: 'default', features: [...FEATURES, HelloFeature.MutationSeqno] });
});
afterAll(async () => {
  c?.close();
  await cluster?.close();
});

const vb = (key: string) => cluster.bucket('default').vbucketOf(key);
const doc = (key: string) => cluster.bucket('default').get(key);

function single(
  op: number,
  key: string,
  path: string,
  value?: string,
  o: { flags?: number; docFlags?: number; expiry?: number; cas?: bigint } = {},
) {
  return c.call({
    opcode: op,
    vbucket: vb(key),
    key,
    extras: singleExtras(path, o.flags ?? 0, { expiry: o.expiry, docFlags: o.docFlags }),
    value: Buffer.concat([Buffer.from(path), Buffer.from(value ?? '')]),
    cas: o.cas,
  });
}

function multi(
  mutation: boolean,
  key: string,
  specs: SpecInput[],
  o: { docFlags?: number; expiry?: number; cas?: bigint; client?: TestClient } = {},
) {
  return (o.client ?? c).call({
    opcode: mutation ? Op.MultiMutation : Op.MultiLookup,
    vbucket: vb(key),
    key,
    extras: multiExtras({ expiry: o.expiry, docFlags: o.docFlags }),
    value: multiValue(mutation, specs),
    cas: o.cas,
  });
}

describe('sub-document requests on the wire', () => {
  it('single-path lookups answer the value as JSON with the document CAS; errors per docs', async () => {
    const w = cluster.bucket('default').upsert('sp', { a: { b: [1, 2, 3] }, s: 'x' });
    const r = await single(Op.Get, 'sp', 'a.b[-1]');
    expect([r.status, r.value.toString(), r.datatype, r.cas]).toEqual([0, '3', 1, w.cas]);
    expect((await single(Op.Exists, 'sp', 's')).value.length).toBe(0);
    expect((await single(Op.GetCount, 'sp', 'a.b')).value.toString()).toBe('3');
    expect((await single(Op.Get, 'sp', 'a.zz')).status).toBe(S.PathEnoent);
    expect((await single(Op.Get, 'sp', 's.deeper')).status).toBe(S.PathMismatch);
    expect((await single(Op.Get, 'sp', 'a..b')).status).toBe(S.PathEinval);
    expect((await single(Op.Get, 'nope', 'a')).status).toBe(Status.KeyEnoent);
    // The validator: an empty path for GET, a value on a lookup, unknown flags, bad extras.
    expect((await single(Op.Get, 'sp', '')).status).toBe(Status.Einval);
    expect((await single(Op.Get, 'sp', 'a', '1')).status).toBe(Status.Einval);
    expect((await single(Op.Get, 'sp', 'a', undefined, { flags: 0x02 })).status).toBe(Status.Einval);
    expect((await single(Op.Get, 'sp', 'a', undefined, { expiry: 5 })).status).toBe(Status.Einval);
    expect((await single(Op.Get, 'sp', 'a', undefined, { docFlags: DocFlag.Mkdoc })).status).toBe(
      Status.Einval,
    );
  });

  it('single-path mutations: mutation seqno extras, counters answer the new value', async () => {
    cluster.bucket('default').upsert('sm', { n: 5 });
    const r = await single(Op.Counter, 'sm', 'n', '-7');
    expect([r.status, r.value.toString(), r.extras.length]).toEqual([0, '-2', 16]);
    expect(r.extras.readBigUInt64BE(8)).toBe(BigInt(doc('sm')!.seqno));
    expect((await single(Op.Counter, 'sm', 'n', '0')).status).toBe(S.DeltaEinval);
    expect((await single(Op.Counter, 'sm', 'n', '+1')).status).toBe(S.DeltaEinval);
    expect((await single(Op.Counter, 'sm', 'n', '9223372036854775807')).status).toBe(S.Success);
    expect((await single(Op.Counter, 'sm', 'n', '2')).value.toString()).toBe('9223372036854775807');
    // DELTA_OVERFLOW is answered as VALUE_CANTINSERT by kv_engine (subdocument_context.cc).
    expect((await single(Op.Counter, 'sm', 'n', '1')).status).toBe(S.ValueCantinsert);
    expect((await single(Op.DictAdd, 'sm', 'n', '1')).status).toBe(S.PathEexists);
    expect((await single(Op.DictUpsert, 'sm', 'x', 'not json')).status).toBe(S.ValueCantinsert);
    expect((await single(Op.DictUpsert, 'sm', 'arr[0]', '1')).status).toBe(S.PathEinval);
    expect((await single(Op.ArrayAddUnique, 'sm', 'u', '[1]', { flags: PathFlag.MkdirP })).status).toBe(
      S.ValueCantinsert,
    );
    expect(
      (await single(Op.DictUpsert, 'sm', 'x', '1', { docFlags: DocFlag.Add | DocFlag.Mkdoc })).status,
    ).toBe(Status.Einval);
    expect((await single(Op.DictUpsert, 'sm', 'x', '1', { docFlags: DocFlag.Add, cas: 5n })).status).toBe(
      Status.Einval,
    );
    expect((await single(Op.DictUpsert, 'sm', 'x', '1', { cas: 5n })).status).toBe(Status.KeyEexists);
  });

  it('multi lookup: one result per spec (status, length, value), MULTI_PATH_FAILURE overall, the CAS', async () => {
    const w = cluster.bucket('default').upsert('ml', { a: 1, b: [true] });
    const r = await multi(false, 'ml', [
      { op: Op.Get, path: 'a' },
      { op: Op.Exists, path: 'b' },
      { op: Op.Get, path: 'c' },
      { op: Op.GetCount, path: 'b' },
      { op: Op.WholeGet, path: '' },
    ]);
    expect(r.status).toBe(S.MultiPathFailure);
    expect(r.cas).toBe(w.cas);
    expect(lookupResults(r.value)).toEqual([
      { status: 0, value: '1' },
      { status: 0, value: '' },
      { status: S.PathEnoent, value: '' },
      { status: 0, value: '1' },
      { status: 0, value: '{"a":1,"b":[true]}' },
    ]);
    const ok = await multi(false, 'ml', [{ op: Op.Get, path: 'a' }]);
    expect(ok.status).toBe(0);
  });

  it('multi mutation: values only for specs that answer one, or the first failure (index, status) and nothing applied', async () => {
    cluster.bucket('default').upsert('mm', { n: 1, list: [] });
    const r = await multi(true, 'mm', [
      { op: Op.DictUpsert, path: 'a', value: '"x"' },
      { op: Op.Counter, path: 'n', value: '10' },
      { op: Op.ArrayPushLast, path: 'list', value: '1,2' },
    ]);
    expect(r.status).toBe(0);
    expect(r.extras.length).toBe(16);
    expect(mutationResults(r.value)).toEqual([{ index: 1, status: 0, value: '11' }]);
    expect(doc('mm')!.value.toString()).toBe('{"n":11,"list":[1,2],"a":"x"}');
    const f = await multi(true, 'mm', [
      { op: Op.DictUpsert, path: 'b', value: '1' },
      { op: Op.Replace, path: 'nope', value: '1' },
      { op: Op.Delete, path: 'n' },
    ]);
    expect([f.status, f.value.toString('hex'), f.cas]).toEqual([S.MultiPathFailure, `01${'00c0'}`, 0n]);
    expect(doc('mm')!.value.toString()).toBe('{"n":11,"list":[1,2],"a":"x"}');
  });

  it('validates the spec list: order, combinations, the 16-path limit', async () => {
    cluster.bucket('default').upsert('mv', { a: 1 });
    const many = Array.from({ length: 17 }, () => ({ op: Op.Get, path: 'a' }));
    expect((await multi(false, 'mv', many)).status).toBe(S.InvalidCombo);
    expect((await multi(false, 'mv', [])).status).toBe(S.InvalidCombo);
    expect((await multi(false, 'mv', [{ op: Op.DictUpsert, path: 'a', value: '1' }])).status).toBe(
      S.InvalidCombo,
    );
    expect((await multi(true, 'mv', [{ op: Op.Get, path: 'a' }])).status).toBe(S.InvalidCombo);
    expect(
      (
        await multi(false, 'mv', [
          { op: Op.Get, path: 'a' },
          { op: Op.Get, path: '_x', flags: X },
        ])
      ).status,
    ).toBe(S.InvalidXattrOrder);
    expect(
      (
        await multi(true, 'mv', [
          { op: Op.WholeDelete, path: '' },
          { op: Op.DictUpsert, path: 'a', value: '1' },
        ])
      ).status,
    ).toBe(S.InvalidCombo);
    expect((await multi(false, 'mv', [{ op: Op.WholeGet, path: 'a' }])).status).toBe(Status.Einval);
    expect(
      (await multi(true, 'mv', [{ op: Op.DictUpsert, path: 'a', value: '1', flags: PathFlag.ExpandMacros }]))
        .status,
    ).toBe(S.XattrInvalidFlagCombo);
    expect((await multi(false, 'mv', [{ op: Op.Get, path: '!bad', flags: X }])).status).toBe(0x87);
    expect((await multi(false, 'mv', [{ op: Op.Get, path: 'sixteen_bytes_ab', flags: X }])).status).toBe(
      0x87,
    );
    expect(
      (await multi(true, 'mv', [{ op: Op.DictUpsert, path: '$document.x', value: '1', flags: X }])).status,
    ).toBe(S.XattrCantModifyVattr);
    expect(
      (
        await multi(true, 'mv', [
          {
            op: Op.DictUpsert,
            path: 'x',
            value: Macro.Cas.replace('Mutation.CAS', 'Nope'),
            flags: X | PathFlag.ExpandMacros,
          },
        ])
      ).status,
    ).toBe(S.XattrUnknownMacro);
    // Without HELLO XATTR the connection cannot touch xattrs.
    const plain = await TestClient.connect(cluster.nodes[0].kvPort);
    await bootstrap(plain, { bucket: 'default', features: FEATURES.filter((f) => f !== HelloFeature.Xattr) });
    expect((await multi(false, 'mv', [{ op: Op.Get, path: '_x', flags: X }], { client: plain })).status).toBe(
      Status.NotSupported,
    );
    plain.close();
  });

  it('xattrs: the section layout, virtual $document / $XTOC, unknown vattrs, macros expanded at store time', async () => {
    cluster.bucket('default').upsert('xa', { body: 1 });
    const r = await multi(true, 'xa', [
      { op: Op.DictUpsert, path: 'zeta', value: '{"v": 2.50, "a": 1}', flags: X },
      { op: Op.DictUpsert, path: '_sync', value: Macro.Cas, flags: X | PathFlag.ExpandMacros },
      {
        op: Op.DictUpsert,
        path: 'meta.seq',
        value: Macro.Seqno,
        flags: X | PathFlag.ExpandMacros | PathFlag.MkdirP,
      },
    ]);
    expect(r.status).toBe(0);
    const d = doc('xa')!;
    expect(d.datatype).toBe(0x05);
    // Rebuilt through nlohmann::json: keys sorted, values re-serialised.
    const pairs = parseXattrs(d.value)!.map((p) => [p.key.toString(), p.value.toString()]);
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(d.cas);
    expect(pairs).toEqual([
      ['_sync', `"0x${le.toString('hex')}"`],
      ['meta', `{"seq":"0x${d.seqno.toString(16).padStart(16, '0')}"}`],
      ['zeta', '{"a":1,"v":2.5}'],
    ]);
    expect(d.value.subarray(d.value.readUInt32BE(0) + 4).toString()).toBe('{"body":1}');
    const l = await multi(false, 'xa', [
      { op: Op.Get, path: '$document.CAS', flags: X },
      { op: Op.Get, path: '$XTOC', flags: X },
      { op: Op.Get, path: '$nope', flags: X },
      { op: Op.Get, path: '$document.datatype', flags: X },
      { op: Op.Get, path: 'body' },
    ]);
    expect(lookupResults(l.value)).toEqual([
      { status: 0, value: `"0x${d.cas.toString(16).padStart(16, '0')}"` },
      { status: 0, value: '["_sync","meta","zeta"]' },
      { status: S.XattrUnknownVattr, value: '' },
      { status: 0, value: '["json","xattr"]' },
      { status: 0, value: '1' },
    ]);
    // Removing the last xattr drops the section and the datatype bit.
    await multi(true, 'xa', [
      { op: Op.Delete, path: '_sync', flags: X },
      { op: Op.Delete, path: 'meta', flags: X },
      { op: Op.Delete, path: 'zeta', flags: X },
    ]);
    expect([doc('xa')!.datatype, doc('xa')!.value.toString()]).toEqual([0x01, '{"body":1}']);
  });

  it('deletion keeps system xattrs; access-deleted reads them (SUCCESS_DELETED); a tombstone cannot get a body; revive', async () => {
    cluster.bucket('default').upsert('del', { b: 1 });
    await multi(true, 'del', [
      { op: Op.DictUpsert, path: '_sys', value: '1', flags: X },
      { op: Op.DictUpsert, path: 'user', value: '2', flags: X },
    ]);
    cluster.bucket('default').remove('del');
    expect((await single(Op.Get, 'del', '_sys', undefined, { flags: X })).status).toBe(Status.KeyEnoent);
    const ad = await multi(
      false,
      'del',
      [
        { op: Op.Get, path: '_sys', flags: X },
        { op: Op.Get, path: 'user', flags: X },
      ],
      { docFlags: DocFlag.AccessDeleted },
    );
    expect(ad.status).toBe(S.MultiPathFailureDeleted);
    expect(lookupResults(ad.value)).toEqual([
      { status: 0, value: '1' },
      { status: S.PathEnoent, value: '' },
    ]);
    const one = await single(Op.Get, 'del', '_sys', undefined, { flags: X, docFlags: DocFlag.AccessDeleted });
    expect([one.status, one.value.toString()]).toEqual([S.SuccessDeleted, '1']);
    // A mutation of the tombstone's xattrs keeps it deleted.
    const m = await multi(true, 'del', [{ op: Op.DictUpsert, path: '_sys', value: '3', flags: X }], {
      docFlags: DocFlag.AccessDeleted,
    });
    expect(m.status).toBe(S.SuccessDeleted);
    expect(cluster.bucket('default').get('del')).toBeUndefined();
    expect(
      (
        await multi(true, 'del', [{ op: Op.WholeSet, path: '', value: '{}' }], {
          docFlags: DocFlag.AccessDeleted,
        })
      ).status,
    ).toBe(Status.Einval); // WholeSet does not take AccessDeleted
    expect(
      (
        await multi(true, 'del', [{ op: Op.DictUpsert, path: 'body', value: '1' }], {
          docFlags: DocFlag.AccessDeleted,
        })
      ).status,
    ).toBe(S.MultiPathFailure); // the tombstone has no JSON body to operate on
    const rv = await multi(true, 'del', [{ op: Op.DictUpsert, path: '_sys', value: '4', flags: X }], {
      docFlags: DocFlag.AccessDeleted | DocFlag.ReviveDocument,
    });
    expect(rv.status).toBe(0);
    expect(cluster.bucket('default').get('del')).toBeDefined();
    expect(
      (
        await multi(true, 'del', [{ op: Op.DictUpsert, path: '_sys', value: '5', flags: X }], {
          docFlags: DocFlag.AccessDeleted | DocFlag.ReviveDocument,
        })
      ).status,
    ).toBe(S.CanOnlyReviveDeletedDocuments);
  });

  it('create-as-deleted makes a tombstone holding only xattrs; a whole-document delete removes it outright', async () => {
    const r = await multi(true, 'cad', [{ op: Op.DictUpsert, path: '_txn', value: '{"id":1}', flags: X }], {
      docFlags: DocFlag.Add | DocFlag.CreateAsDeleted | DocFlag.AccessDeleted,
    });
    expect(r.status).toBe(S.SuccessDeleted);
    const t = cluster.bucket('default');
    expect(t.get('cad')).toBeUndefined();
    const l = await single(Op.Get, 'cad', '_txn.id', undefined, {
      flags: X,
      docFlags: DocFlag.AccessDeleted,
    });
    expect([l.status, l.value.toString()]).toEqual([S.SuccessDeleted, '1']);
    expect(
      (await single(Op.DictUpsert, 'cad2', 'x', '1', { docFlags: DocFlag.Mkdoc | DocFlag.CreateAsDeleted }))
        .status,
    ).toBe(Status.Einval); // CreateAsDeleted does not support a body path
    t.upsert('wd', { a: 1 });
    const d = await multi(true, 'wd', [{ op: Op.WholeDelete, path: '' }]);
    expect(d.status).toBe(0);
    expect(t.get('wd')).toBeUndefined();
  });

  it('SUBDOC_REPLACE_BODY_WITH_XATTR makes an attribute the body (the XATTR flag is mandatory)', async () => {
    cluster.bucket('default').upsert('rb', { old: true });
    await multi(true, 'rb', [{ op: Op.DictUpsert, path: 'txn', value: '{"staged":{"new":1}}', flags: X }]);
    expect((await single(Op.ReplaceBodyWithXattr, 'rb', 'txn.staged')).status).toBe(Status.Einval);
    expect((await single(Op.ReplaceBodyWithXattr, 'rb', 'txn.staged', undefined, { flags: X })).status).toBe(
      0,
    );
    const d = doc('rb')!;
    expect(d.value.subarray(4 + d.value.readUInt32BE(0)).toString()).toBe('{"new":1}');
  });

  it('MKDOC picks the root from the first path: an array for an empty-path push, an object otherwise', async () => {
    expect((await single(Op.ArrayPushLast, 'mk1', '', '"a"', { docFlags: DocFlag.Mkdoc })).status).toBe(0);
    expect(doc('mk1')!.value.toString()).toBe('["a"]');
    expect((await single(Op.DictUpsert, 'mk2', 'x.y', '1', { docFlags: DocFlag.Mkdoc })).status).toBe(0);
    expect(doc('mk2')!.value.toString()).toBe('{"x":{"y":1}}');
    expect((await single(Op.DictUpsert, 'mk2', 'z', '1', { docFlags: DocFlag.Add })).status).toBe(
      Status.KeyEexists,
    );
    expect((await single(Op.DictUpsert, 'mk3', 'z', '1')).status).toBe(Status.KeyEnoent);
  });

  it('expiry in the extras applies to the document, and a mutation without one clears it (unless preserve-TTL)', async () => {
    cluster.bucket('default').upsert('ttl', { a: 1 });
    expect((await single(Op.DictUpsert, 'ttl', 'b', '1', { expiry: 1000 })).status).toBe(0);
    expect(doc('ttl')!.expiry).toBeGreaterThan(Date.now() / 1000 + 900);
    const preserve = await c.call({
      magic: Magic.AltRequest,
      framingExtras: Buffer.from([0x50]),
      opcode: Op.DictUpsert,
      vbucket: vb('ttl'),
      key: 'ttl',
      extras: singleExtras('c'),
      value: Buffer.from('c1'),
    });
    expect(preserve.status).toBe(0);
    expect(doc('ttl')!.expiry).toBeGreaterThan(Date.now() / 1000 + 900);
    expect((await single(Op.DictUpsert, 'ttl', 'd', '1')).status).toBe(0);
    expect(doc('ttl')!.expiry).toBe(0);
  });
});
