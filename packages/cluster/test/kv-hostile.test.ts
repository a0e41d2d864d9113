// Issue #22: an unauthenticated client could make a data node buffer a 21 MiB frame, and frames
// spanning chunks were reassembled by joining every chunk onto what was held (quadratic: one such
// connection stalled the node ~4 s, forty took it from 87 to 597 MB). Now a frame over 16 KiB
// before SASL succeeds closes that connection as soon as its header is read (counted, logged
// once), and reassembly copies each byte once.
import { Writable } from 'node:stream';
import { encodePacket, Magic, Opcode, Status } from '@tributary/codec';
import { createLogger } from '@tributary/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { FrameReader } from '../src/internal/mcbp.js';
import { bootstrap, TestClient } from './helpers/client.js';

let cluster: Cluster;
const lines: Record<string, unknown>[] = [];
beforeAll(async () => {
  cluster = await startCluster({
    vbuckets: 4,
    buckets: ['default'],
    users: { Administrator: 'password' },
    logger: createLogger({
      level: 'warn',
      destination: new Writable({
        write(c, _e, cb) {
          for (const l of String(c).split('\n')) if (l) lines.push(JSON.parse(l));
          cb();
        },
      }),
    }),
  });
});
afterAll(async () => {
  await cluster?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const stat = (name: string) => (cluster.stats().counters as Record<string, number>)[name] ?? 0;

/** A SET header announcing `bodyLen` bytes, with `sent` of them. */
function setFrame(bodyLen: number, sent = 0): Buffer {
  const h = encodePacket({
    magic: Magic.Request,
    opcode: Opcode.Set,
    opaque: 7,
    extras: Buffer.alloc(8),
    key: 'k',
  });
  const b = Buffer.alloc(24 + sent);
  h.copy(b, 0, 0, 24);
  b.writeUInt32BE(bodyLen, 8);
  return b;
}

describe('KV port before authentication (#22)', () => {
  it('a frame announcing 21 MiB is refused at its header: the connection closes, counted, logged once', async () => {
    const before = stat('preauth_frames_refused');
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => TestClient.connect(cluster.nodes[0].kvPort)),
    );
    for (const c of clients) c.send(setFrame(21 * 1024 * 1024 - 24, 1000)); // header + 1000 bytes only
    await Promise.all(clients.map((c) => c.closedPromise()));
    expect(stat('preauth_frames_refused')).toBe(before + 20);
    const logged = lines.filter((l) => l.kind === 'too-large-before-auth');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.msg).toBe('frame over the pre-authentication size cap: closing connection');
  });

  it('frames up to the cap are read before auth; after SASL a 1 MiB value is stored', async () => {
    const c = await TestClient.connect(cluster.nodes[0].kvPort);
    // A 16 KiB HELLO (odd-length feature list: EINVAL, connection kept), within the cap.
    const hello = await c.call({
      opcode: Opcode.Hello,
      key: 'x'.repeat(250),
      value: Buffer.alloc(16 * 1024 - 24 - 250 - 1),
    });
    expect(hello.status).toBe(Status.Einval);
    await bootstrap(c, { bucket: 'default' });
    const big = Buffer.alloc(1024 * 1024, 0x61);
    const r = await c.call({
      opcode: Opcode.Set,
      vbucket: 0,
      key: 'big',
      extras: Buffer.alloc(8),
      value: big,
    });
    expect([Status.Success, Status.NotMyVbucket]).toContain(r.status);
    expect(c.closed).toBe(false);
    c.close();
  });

  it('a hundred malformed connections make one log line per kind (the rest counted)', async () => {
    const before = stat('malformed_frames');
    for (let i = 0; i < 100; i++) {
      const c = await TestClient.connect(cluster.nodes[0].kvPort);
      c.send(Buffer.alloc(24, 0x41)); // bad magic
      await c.closedPromise();
    }
    expect(stat('malformed_frames')).toBe(before + 100);
    expect(lines.filter((l) => l.kind === 'bad-magic')).toHaveLength(1);
  });
});

describe('FrameReader reassembly is linear', () => {
  it('a 21 MiB frame in 16 KiB chunks is copied about once, not once per chunk', () => {
    const total = 21 * 1024 * 1024;
    const frame = Buffer.alloc(total);
    encodePacket({
      magic: Magic.Request,
      opcode: Opcode.Set,
      opaque: 1,
      extras: Buffer.alloc(8),
      key: 'k',
    }).copy(frame);
    frame.writeUInt32BE(total - 24, 8);
    let copied = 0;
    const concat = Buffer.concat;
    vi.spyOn(Buffer, 'concat').mockImplementation((list, len) => {
      const out = concat(list, len);
      copied += out.length;
      return out;
    });
    const from = Buffer.from;
    vi.spyOn(Buffer, 'from').mockImplementation(((...a: Parameters<typeof Buffer.from>) => {
      const out = (from as (...x: unknown[]) => Buffer)(...a);
      if (Buffer.isBuffer(a[0])) copied += out.length;
      return out;
    }) as typeof Buffer.from);
    const r = new FrameReader();
    let got = 0;
    for (let off = 0; off < total; off += 16 * 1024)
      r.push(frame.subarray(off, Math.min(total, off + 16 * 1024)), (f) => {
        got += f.size;
      });
    expect(got).toBe(total);
    // Once for the frame, plus the header's first chunk: under 1.1x (the old join was ~670x).
    expect(copied).toBeLessThan(total * 1.1);
  });
});
