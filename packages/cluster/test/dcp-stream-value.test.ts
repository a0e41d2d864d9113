// Issue #22: a DCP stream request whose JSON value held {"sid":-1} (or a sid out of the 16-bit
// range) reached the encoder and crashed the cluster. kv_engine's stream-request-value.md
// ("Validation") and its Collections::VB::Filter: a sid that is not an unsigned integer is EINVAL,
// sid 0 is DCP_STREAMID_INVALID; the rest of the value is checked the same way.
import { Status } from '@tributary/codec';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { parseStreamRequestValue } from '../src/internal/stream-request-value.js';
import { bootstrap, dcpOpen, eventsFor, streamReq, TestClient } from './helpers/client.js';

let cluster: Cluster;
let n = 0;
beforeAll(async () => {
  cluster = await startCluster({ vbuckets: 8, buckets: ['default'], users: { Administrator: 'password' } });
  // Items in every vbucket, so a stream accepted with a bad sid would have messages to encode.
  for (let i = 0; i < 64; i++) cluster.bucket('default').upsert(`doc-${i}`, { i });
});
afterAll(async () => {
  await cluster?.close();
});

async function dcp(controls: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(cluster.nodes[0].kvPort);
  await bootstrap(c, { bucket: 'default' });
  await dcpOpen(c, `sid-test:${n++}`, undefined, { enable_noop: 'true', ...controls });
  return c;
}

const EINVAL = 0x04;

describe('DCP stream request value (#22)', () => {
  it.each([
    ['{"sid":-1}', EINVAL],
    ['{"sid":65536}', EINVAL],
    ['{"sid":1e15}', EINVAL],
    ['{"sid":1.5}', EINVAL],
    ['{"sid":"5"}', EINVAL],
    ['{"sid":null}', EINVAL],
    ['{"sid":0}', 0x8d],
    ['[1]', EINVAL],
    ['5', EINVAL],
    ['{"collections":"0"}', EINVAL],
    ['{"collections":["0"],"scope":"0"}', EINVAL],
    ['{"uid":4}', EINVAL],
    ['{"purge_seqno":12}', EINVAL],
    ['{"purge_seqno":"-1"}', EINVAL],
  ])(
    'stream ids enabled, value %s: status %i, and the connection and the cluster go on',
    async (value, status) => {
      const c = await dcp({ enable_stream_id: 'true' });
      const bad = await streamReq(c, { vbucket: 1, value: Buffer.from(value) });
      expect(bad.status).toBe(status);
      // The same connection still streams with a good stream id, and it sees a new mutation.
      const ok = await streamReq(c, { vbucket: 1, opaque: 77, value: Buffer.from('{"sid":65535}') });
      expect(ok.status).toBe(Status.Success);
      c.close();
      const fresh = await dcp({});
      expect((await streamReq(fresh, { vbucket: 2 })).status).toBe(Status.Success);
      fresh.close();
    },
  );

  it('a sid without enable_stream_id is DCP_STREAMID_INVALID, out of range or not', async () => {
    const c = await dcp({});
    for (const v of ['{"sid":5}', '{"sid":-1}'])
      expect((await streamReq(c, { vbucket: 1, value: Buffer.from(v) })).status).toBe(
        v.includes('-1') ? EINVAL : 0x8d,
      );
    c.close();
  });

  it('a stream with the largest sid carries it on its messages', async () => {
    const b = cluster.bucket('default');
    let key = '';
    for (let i = 0; !key; i++) if (b.vbucketOf(`sid-${i}`) === 3) key = `sid-${i}`;
    b.upsert(key, { v: 1 });
    const c = await dcp({ enable_stream_id: 'true' });
    const r = await streamReq(c, { vbucket: 3, opaque: 9, value: Buffer.from('{"sid":65535}') });
    expect(r.status).toBe(Status.Success);
    await c.until(() => eventsFor(c, 9).some((e) => e.key === key), 10_000, 'the mutation');
    const m = eventsFor(c, 9).find((e) => e.key === key);
    expect(m?.type).toBe('mutation');
    // Alt-framed (magic 0x08) with frame info id 2, length 2 = the stream id, as kv_engine sends it.
    expect(m?.packet.magic).toBe(0x08);
    expect([...(m?.packet.framingExtras ?? [])]).toEqual([0x22, 0xff, 0xff]);
    c.close();
  });

  it('property: any JSON value is accepted with a sid in 1..65535, or refused with EINVAL/0x8d; never throws', () => {
    const sid = fc.oneof(
      fc.integer({ min: -70_000, max: 70_000 }),
      fc.double(),
      fc.string(),
      fc.constant(null),
    );
    const value = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          sid,
          uid: fc.jsonValue(),
          collections: fc.jsonValue(),
          scope: fc.jsonValue(),
          purge_seqno: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          value.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
          fc.uint8Array().map(Buffer.from),
        ),
        (bytes) => {
          const r = parseStreamRequestValue(bytes);
          if (r.ok) {
            if (r.value.sid !== undefined) expect(r.value.sid >= 1 && r.value.sid <= 0xffff).toBe(true);
          } else expect([EINVAL, 0x8d]).toContain(r.status);
        },
      ),
    );
  });
});
