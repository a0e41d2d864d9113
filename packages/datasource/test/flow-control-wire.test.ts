// Flow-control accounting end to end: every counted byte that crossed the wire is either
// acknowledged or still outstanding, and a pending receiver promise keeps its bytes unacknowledged.
import { type Cluster, startCluster } from '@tributary/cluster';
import { FrameDecoder } from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { ConnectionFactory } from '@tributary/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketDataSource, isFlowControlled } from '../src/index.js';
import { MirrorReceiver, waitFor } from './helpers.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ nodes: 1, vbuckets: 64, buckets: ['default'], users: { app: 'secret' } });
  const b = cluster.bucket('default');
  for (let i = 0; i < 20_000; i++) b.upsert(`doc${i % 15_000}`, `value-${i}-${'z'.repeat(i % 200)}`);
  for (let i = 0; i < 1_000; i++) b.remove(`doc${i * 3}`);
});
afterAll(async () => {
  await cluster?.close();
});

/** A TCP factory that decodes what arrives on its own and sums the bytes the server counts. */
function tappingFactory(): {
  factory: ConnectionFactory;
  counted: () => number;
  dataOf: (vb: number) => number;
} {
  const tcp = createTcpFactory();
  let counted = 0;
  const data = new Map<number, number>();
  return {
    counted: () => counted,
    dataOf: (vb) => data.get(vb) ?? 0,
    factory: {
      name: 'tap',
      listen: (e, on) => tcp.listen(e, on),
      connect: async (endpoint, o) => {
        const conn = await tcp.connect(endpoint, o);
        const dec = new FrameDecoder();
        conn.on('data', (chunk: Buffer) => {
          for (const p of dec.push(chunk)) {
            if ((p.magic !== 0x80 && p.magic !== 0x08) || !isFlowControlled(p.opcode)) continue;
            counted += 24 + p.bodyLength;
            // mutations, deletions, expirations
            if (p.opcode >= 0x57 && p.opcode <= 0x59)
              data.set(p.vbucket, (data.get(p.vbucket) ?? 0) + 24 + p.bodyLength);
          }
        });
        return conn;
      },
    },
  };
}

describe('flow control on the wire', () => {
  it('acked + outstanding = counted bytes received; a held vbucket keeps its bytes unacknowledged', async () => {
    const tap = tappingFactory();
    const r = new MirrorReceiver();
    // vbucket 5 is held by a promise until released: its bytes must not be acknowledged meanwhile.
    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    let heldCalls = 0;
    r.delay = (vb) => {
      if (vb !== 5) return undefined;
      heldCalls++;
      return held;
    };
    const window = 256 * 1024;
    const ds = createBucketDataSource({
      serverUrls: [cluster.managementUrl],
      bucketName: 'default',
      auth: { username: 'app', password: 'secret' },
      receiver: r,
      options: { connectionFactory: tap.factory, feedBufferSizeBytes: window, seqnoPollIntervalMs: 0 },
    });
    await ds.start();
    const b = cluster.bucket('default');
    const live: string[] = [];
    for (let i = 0; i < 15_000; i++) if (i >= 3_000 || i % 3 !== 0) live.push(`doc${i}`);
    const others = live.filter((k) => b.vbucketOf(k) !== 5).length;
    // Everything but vbucket 5 arrives while vbucket 5 is held.
    await waitFor(() => heldCalls === 1 && r.docs.size === others, 'the other vbuckets delivered', 20_000);
    expect(ds.stats().vbuckets[5]!.queued).toBeGreaterThan(0);
    let st = ds.stats();
    expect(st.TotUPRBufferAck).toBeGreaterThan(0);
    expect(st.TotUPRBufferAckBytes + st.unackedBytes).toBe(tap.counted());
    // Every data message of vbucket 5 (the held one, the ones queued behind it) is unacknowledged.
    expect(tap.dataOf(5)).toBeGreaterThan(0);
    expect(st.unackedBytes).toBeGreaterThanOrEqual(tap.dataOf(5));
    expect(st.unackedBytes).toBeLessThanOrEqual(window + 64 * 1024);
    release();
    await waitFor(() => r.docs.size === live.length, 'every document', 20_000);
    st = ds.stats();
    expect(st.TotUPRBufferAckBytes + st.unackedBytes).toBe(tap.counted());
    // What is left unacknowledged is below the ack threshold (20 % of the window).
    expect(st.unackedBytes).toBeLessThan(window * 0.2);
    expect(r.orderViolations).toEqual([]);
    await ds.close();
    expect(r.errors).toEqual([]);
  }, 60_000);
});
