// XATTRs reaching DCP (kv_engine docs/ExtendedAttributes.md "XATTRs can be streamed via DCP",
// docs/dcp/documentation/commands/mutation.md): a consumer that opened with INCLUDE_XATTRS gets
// datatype bit 0x04 and the XATTR section in front of the body; others get the body alone. A
// change of only the xattrs is a DCP mutation; a deletion keeps the system xattrs, which the
// include-xattrs consumer gets as the deletion's value.
import { DcpOpenFlag, HelloFeature } from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { PathFlag, SubdocOp } from '../src/internal/subdoc/status.js';
import { parseXattrs } from '../src/internal/subdoc/xattrs.js';
import { bootstrap, dcpOpen, FEATURES, streamReq, TestClient } from './helpers/client.js';
import { multiValue } from './helpers/subdoc.js';

let cluster: Cluster;
const clients: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 1,
    vbuckets: 4,
    buckets: ['default'],
    users: { Administrator: 'password' },
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

async function connect(): Promise<TestClient> {
  const c = await TestClient.connect(cluster.nodes[0].kvPort);
  await bootstrap(c, { bucket: 'default', features: [...FEATURES, HelloFeature.Json] });
  clients.push(c);
  return c;
}

async function consumer(name: string, flags: number): Promise<TestClient> {
  const c = await connect();
  await dcpOpen(c, name, DcpOpenFlag.Producer | flags, { enable_noop: 'true' });
  return c;
}

describe('xattrs in DCP', () => {
  it('streams the section to include-xattrs consumers and the body alone to others', async () => {
    const key = 'sg-doc';
    const vb = cluster.bucket('default').vbucketOf(key);
    cluster.bucket('default').upsert(key, { title: 'hello' });
    const kv = await connect();
    const set = await kv.call({
      opcode: SubdocOp.MultiMutation,
      vbucket: vb,
      key,
      value: multiValue(true, [
        {
          op: SubdocOp.DictUpsert,
          path: '_sync',
          value: '{"rev":"1-a","sequence":1}',
          flags: PathFlag.XattrPath,
        },
        { op: SubdocOp.DictUpsert, path: 'user', value: '"u"', flags: PathFlag.XattrPath },
      ]),
    });
    expect(set.status).toBe(0);
    // An xattr-only change: a new seqno, a DCP mutation.
    const xonly = await kv.call({
      opcode: SubdocOp.MultiMutation,
      vbucket: vb,
      key,
      value: multiValue(true, [
        { op: SubdocOp.DictUpsert, path: '_sync.sequence', value: '2', flags: PathFlag.XattrPath },
      ]),
    });
    expect(xonly.status).toBe(0);
    const high = cluster.bucket('default').highSeqnos()[vb];

    const withX = await consumer('with-xattrs', DcpOpenFlag.IncludeXattrs);
    const without = await consumer('without-xattrs', 0);
    for (const c of [withX, without]) {
      expect((await streamReq(c, { vbucket: vb, endSeqno: high, opaque: 7 })).status).toBe(0);
      await c.until(() => c.events.some((e) => e.type === 'end'), 5000, 'stream end');
    }
    const m1 = withX.events.find((e) => e.type === 'mutation' && e.key === key)!;
    expect(m1.seqno).toBe(high);
    expect(m1.packet.datatype).toBe(0x05);
    const pairs = parseXattrs(m1.value!)!.map((p) => [p.key.toString(), p.value.toString()]);
    expect(pairs).toEqual([
      ['_sync', '{"rev":"1-a","sequence":2}'],
      ['user', '"u"'],
    ]);
    expect(m1.value!.subarray(4 + m1.value!.readUInt32BE(0)).toString()).toBe('{"title":"hello"}');
    const m2 = without.events.find((e) => e.type === 'mutation' && e.key === key)!;
    expect([m2.seqno, m2.packet.datatype, m2.value!.toString()]).toEqual([high, 0x01, '{"title":"hello"}']);
  });

  it('a deletion keeps the system xattrs; include-xattrs consumers get them as the value', async () => {
    const key = 'sg-del';
    const vb = cluster.bucket('default').vbucketOf(key);
    cluster.bucket('default').upsert(key, { body: true });
    const kv = await connect();
    await kv.call({
      opcode: SubdocOp.MultiMutation,
      vbucket: vb,
      key,
      value: multiValue(true, [
        { op: SubdocOp.DictUpsert, path: '_sync', value: '{"deleted":true}', flags: PathFlag.XattrPath },
        { op: SubdocOp.DictUpsert, path: 'mine', value: '1', flags: PathFlag.XattrPath },
      ]),
    });
    cluster.bucket('default').remove(key);
    const high = cluster.bucket('default').highSeqnos()[vb];
    const withX = await consumer('del-with', DcpOpenFlag.IncludeXattrs);
    const without = await consumer('del-without', 0);
    for (const c of [withX, without]) {
      expect((await streamReq(c, { vbucket: vb, endSeqno: high })).status).toBe(0);
      await c.until(() => c.events.some((e) => e.type === 'end'), 5000, 'stream end');
    }
    const d1 = withX.events.find((e) => e.type === 'deletion' && e.key === key)!;
    expect(d1.packet.datatype).toBe(0x04);
    expect(parseXattrs(Buffer.from(d1.packet.value))!.map((p) => p.key.toString())).toEqual(['_sync']);
    const d2 = without.events.find((e) => e.type === 'deletion' && e.key === key)!;
    expect([d2.packet.datatype, d2.packet.value.length]).toEqual([0, 0]);
  });
});
