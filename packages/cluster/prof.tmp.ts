import net from 'node:net';
import { startCluster } from '@tributary/cluster';

const DOCS = 300_000;
const cluster = await startCluster({
  nodes: 1,
  vbuckets: 1024,
  buckets: [{ name: 'default', type: (process.env.BT as 'ephemeral') ?? 'couchbase' }],
  users: { Administrator: 'password' },
  allowInsecurePlain: true,
});
const b = cluster.bucket('default');
const value = Buffer.alloc(100, 0x61);
let t = Date.now();
for (let i = 0; i < DOCS; i++) b.upsert(`doc-${i}`, value);
await b.flush();
console.log('preload ms', Date.now() - t, 'rss', Math.round(process.memoryUsage().rss / 1048576));
function req(
  op: number,
  opaque: number,
  key = Buffer.alloc(0),
  extras = Buffer.alloc(0),
  value = Buffer.alloc(0),
  vb = 0,
) {
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = op;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(vb, 6);
  h.writeUInt32BE(key.length + extras.length + value.length, 8);
  h.writeUInt32BE(opaque, 12);
  return Buffer.concat([h, extras, key, value]);
}
const s = net.connect({ port: cluster.nodes[0].kvPort, host: '127.0.0.1' });
await new Promise((r) => s.once('connect', r));
const open = Buffer.alloc(8);
open.writeUInt32BE(1, 4);
const reqs = [
  req(0x21, 1, Buffer.from('PLAIN'), undefined, Buffer.from('\0Administrator\0password')),
  req(0x89, 2, Buffer.from('default')),
  req(0x50, 3, Buffer.from('x'), open),
  req(0x5e, 4, Buffer.from('connection_buffer_size'), undefined, Buffer.from(String(20 * 1024 * 1024))),
];
for (let vb = 0; vb < 1024; vb++) {
  const e = Buffer.alloc(48);
  e.writeUInt32BE(4, 0);
  e.writeBigUInt64BE(0xffffffffffffffffn, 16);
  reqs.push(req(0x53, vb + 1, undefined, e, undefined, vb));
}
let rest: Buffer | undefined;
let muts = 0,
  ends = 0,
  unacked = 0;
t = Date.now();
await new Promise<void>((resolve) => {
  s.on('data', (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 24) {
      const len = 24 + buf.readUInt32BE(off + 8);
      if (buf.length - off < len) break;
      const op = buf[off + 1];
      if (buf[off] === 0x80) {
        if (op === 0x57) muts++;
        else if (op === 0x55 && ++ends === 1024) resolve();
        unacked += len;
        if (unacked >= 10 * 1024 * 1024) {
          const a = req(0x5d, 0, undefined, Buffer.alloc(4));
          a.writeUInt32BE(unacked, 24);
          unacked = 0;
          s.write(a);
        }
      }
      off += len;
    }
    rest = off < buf.length ? buf.subarray(off) : undefined;
  });
  s.write(Buffer.concat(reqs));
});
const ms = Date.now() - t;
console.log('muts', muts, 'ms', ms, 'rate', Math.round((muts / ms) * 1000));
s.destroy();
await cluster.close();
