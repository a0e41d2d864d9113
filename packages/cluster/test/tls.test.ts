// kvSSL listeners through the TLS connection-factory plugin: PLAIN is offered on TLS without
// allowInsecurePlain, and the config advertises kvSSL ports.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { createPlainProvider } from '@tributary/auth-plain';
import {
  encodeSaslAuth,
  encodeSaslListMechs,
  encodeSelectBucket,
  FrameDecoder,
  Opcode,
  type Packet,
} from '@tributary/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';

const fixture = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url));
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    vbuckets: 16,
    buckets: ['default'],
    users: { Administrator: 'password' },
    tls: { cert: fixture('server.crt'), key: fixture('server.key') },
  });
});
afterAll(async () => {
  await cluster?.close();
});

function tlsConnect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fixture('ca.crt') }, () => resolve(s));
    s.once('error', reject);
  });
}

async function exchange(s: tls.TLSSocket, bufs: Buffer[], count: number): Promise<Packet[]> {
  const dec = new FrameDecoder();
  const out: Packet[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (c) => {
      out.push(...dec.push(c));
      if (out.length >= count) resolve(out);
    });
    s.once('error', reject);
    s.write(Buffer.concat(bufs));
  });
}

describe('TLS data-node listeners', () => {
  it('advertises kvSSL ports and authenticates with PLAIN over TLS', async () => {
    for (const n of cluster.nodes) expect(n.kvSslPort).toBeGreaterThan(0);
    const s = await tlsConnect(cluster.nodes[1].kvSslPort!);
    const plain = createPlainProvider().createClient({
      mechanism: 'PLAIN',
      username: 'Administrator',
      password: 'password',
      secure: true,
    });
    const replies = await exchange(
      s,
      [
        encodeSaslListMechs({ opaque: 1 }),
        encodeSaslAuth({ opaque: 2, mechanism: 'PLAIN', data: Buffer.from(plain.start()) }),
        encodeSelectBucket({ opaque: 3, bucket: 'default' }),
        Buffer.from([
          0x80,
          Opcode.GetClusterConfig,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          4,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
        ]),
      ],
      4,
    );
    expect(replies.map((r) => [r.opcode, r.opaque, r.status])).toEqual([
      [Opcode.SaslListMechs, 1, 0],
      [Opcode.SaslAuth, 2, 0],
      [Opcode.SelectBucket, 3, 0],
      [Opcode.GetClusterConfig, 4, 0],
    ]);
    expect(replies[0].value.toString().split(' ')).toContain('PLAIN');
    const cfg = JSON.parse(replies[3].value.toString());
    expect(cfg.nodesExt.map((n: { services: { kvSSL: number } }) => n.services.kvSSL)).toEqual(
      cluster.nodes.map((n) => n.kvSslPort),
    );
    s.destroy();
  });

  it('serves the REST API over HTTPS on mgmtSSL ports (same handler, Basic auth, advertised in nodesExt)', async () => {
    const https = await import('node:https');
    const trusted = fixture('ca.crt');
    const get = (port: number, path: string, auth: string | undefined, ca: Buffer | undefined) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.get(
          { host: '127.0.0.1', port, path, ca, headers: auth ? { authorization: `Basic ${auth}` } : {} },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.once('error', reject);
      });
    const basic = Buffer.from('Administrator:password').toString('base64');
    for (const n of cluster.nodes) {
      expect(n.mgmtSslPort).toBeGreaterThan(0);
      const r = await get(n.mgmtSslPort!, '/pools/default/b/default', basic, trusted);
      expect(r.status).toBe(200);
      const cfg = JSON.parse(r.body);
      expect(cfg.nodesExt.map((x: { services: { mgmtSSL: number } }) => x.services.mgmtSSL)).toEqual(
        cluster.nodes.map((x) => x.mgmtSslPort),
      );
      expect(cfg.vBucketServerMap.vBucketMap).toHaveLength(16);
    }
    expect(
      (await get(cluster.nodes[0].mgmtSslPort!, '/pools/default/b/default', undefined, trusted)).status,
    ).toBe(401);
    // A client that does not trust the test CA (Node's public roots only) never gets an answer.
    await expect(get(cluster.nodes[0].mgmtSslPort!, '/pools', basic, undefined)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it('does not offer PLAIN on plain TCP without allowInsecurePlain', async () => {
    const net = await import('node:net');
    const s = net.connect({ host: '127.0.0.1', port: cluster.nodes[0].kvPort });
    await new Promise((r) => s.once('connect', r));
    const dec = new FrameDecoder();
    const reply = await new Promise<Packet>((resolve) => {
      s.on('data', (c) => {
        const p = dec.push(c);
        if (p.length) resolve(p[0]);
      });
      s.write(encodeSaslListMechs({ opaque: 9 }));
    });
    expect(reply.value.toString().split(' ')).not.toContain('PLAIN');
    expect(reply.value.toString()).toContain('SCRAM-SHA512');
    s.destroy();
  });
});
