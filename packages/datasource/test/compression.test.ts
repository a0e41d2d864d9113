// Snappy negotiation: with `compression`, values cross the wire snappy-compressed (datatype 0x02)
// and the receiver still sees them decompressed; flow control counts the compressed bytes.
import { type Cluster, startCluster } from '@tributary/cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource, type DcpRequest } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

const USERS = { app: 'secret' };
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 1, vbuckets: 64, buckets: ['default'], users: USERS });
});
afterAll(async () => {
  await cluster?.close();
});

/** Streams the whole bucket; returns the datatype of every value seen and the datasource's byte counts. */
async function streamAll(compression: boolean, expected: Map<string, string>) {
  const r = new MirrorReceiver();
  const datatypes: number[] = [];
  const update = r.dataUpdate.bind(r);
  r.dataUpdate = (vb: number, key: Buffer, seq: number, req: DcpRequest) => {
    datatypes.push(req.datatype);
    return update(vb, key, seq, req);
  };
  const ds = createBucketDataSource({
    serverUrls: [cluster.managementUrl],
    bucketName: 'default',
    auth: { username: 'app', password: 'secret' },
    receiver: r,
    // A small window, so acknowledgements (of the bytes as received) happen during the run.
    options: { compression, feedBufferSizeBytes: 64 * 1024, seqnoPollIntervalMs: 0 },
  });
  await ds.start();
  await waitFor(() => r.docs.size === expected.size, 'every document', 20_000);
  for (const [k, v] of expected) expect(r.docs.get(k)?.value, k).toBe(v);
  expect(r.orderViolations).toEqual([]);
  const st = ds.stats();
  await ds.close();
  expect(r.errors).toEqual([]);
  return { datatypes, acked: st.TotUPRBufferAckBytes, acks: st.TotUPRBufferAck };
}

describe('snappy compression', () => {
  it('compressed on the wire, decompressed for the receiver; fewer bytes counted than without', async () => {
    const b = cluster.bucket('default');
    const expected = new Map<string, string>();
    for (let i = 0; i < 2_000; i++) {
      const v = i % 2 ? JSON.stringify({ i, pad: 'x'.repeat(500) }) : `plain-${i}-${'y'.repeat(500)}`;
      b.upsert(`doc${i}`, v);
      expected.set(`doc${i}`, v);
    }
    const on = await streamAll(true, expected);
    expect(on.datatypes.length).toBeGreaterThanOrEqual(2_000);
    expect(on.datatypes.every((dt) => (dt & 0x02) !== 0)).toBe(true);
    // JSON stays flagged as JSON under compression (HELLO Json is negotiated too).
    expect(on.datatypes.some((dt) => dt === 0x03)).toBe(true);
    const off = await streamAll(false, expected);
    expect(off.datatypes.every((dt) => (dt & 0x02) === 0)).toBe(true);
    // ~1 MB of values: acknowledged bytes are what crossed the wire, far less when compressed.
    expect(off.acks).toBeGreaterThan(0);
    expect(on.acked).toBeLessThan(off.acked / 2);
  }, 60_000);
});
