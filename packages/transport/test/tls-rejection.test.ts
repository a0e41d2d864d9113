// The classifier behind TRIB_TLS_REJECTED, on errors from real node:tls handshakes.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { TributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { tlsRejection } from '../src/internal/tls-rejection.js';

const fx = (f: string) =>
  readFileSync(join(import.meta.dirname, '../../../plugins/connection-tls/test/fixtures', f));

/** The error a client with `client` options gets from a server with `server` options. */
async function handshakeError(
  server: tls.TlsOptions,
  client: tls.ConnectionOptions,
): Promise<NodeJS.ErrnoException | undefined> {
  const srv = tls.createServer(server, (s) => s.on('error', () => {}));
  srv.on('tlsClientError', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  try {
    return await new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...client });
      // Every case here fails: before 'secureConnect', or after it with the server's alert.
      s.on('data', () => {});
      s.once('error', (e) => resolve(e));
      s.once('close', () => resolve(undefined));
    });
  } finally {
    srv.close();
  }
}

describe('tlsRejection', () => {
  it('a server certificate from another CA, or for another host, is a rejection', async () => {
    const other = await handshakeError(
      { cert: fx('intruder.crt'), key: fx('intruder.key') },
      { ca: fx('ca.crt'), servername: 'localhost' },
    );
    const r = tlsRejection(new TributaryError('TRIB_CONNECT_FAILED', 'x', { cause: other }), 'h:1');
    expect(r?.code).toBe('TRIB_TLS_REJECTED');
    expect(r?.details.tlsCode).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(r?.message).toMatch(/^TLS handshake with h:1 refused \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);

    const host = await handshakeError(
      { cert: fx('server.crt'), key: fx('server.key') },
      { ca: fx('ca.crt'), servername: 'evil.example' },
    );
    expect(tlsRejection(host, 'h:1')?.details.tlsCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('the peer refusing our missing certificate (TLS 1.3 alert) is a rejection', async () => {
    const err = await handshakeError(
      {
        cert: fx('server.crt'),
        key: fx('server.key'),
        ca: fx('ca.crt'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      { ca: fx('ca.crt'), servername: 'localhost' },
    );
    expect(tlsRejection(err, 'h:1')?.details.tlsCode).toMatch(
      /^ERR_SSL_TLSV1[3]?_ALERT_CERTIFICATE_REQUIRED$/,
    );
  });

  it('outages and other errors are not', async () => {
    const refused = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const srv = net.createServer();
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => tls.connect({ host: '127.0.0.1', port }).once('error', resolve));
      });
    });
    expect(refused.code).toBe('ECONNREFUSED');
    expect(tlsRejection(refused, 'h:1')).toBeUndefined();
    expect(tlsRejection(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'h:1')).toBeUndefined();
    expect(
      tlsRejection(new TributaryError('TRIB_TRANSPORT_CONNECTION_LOST', 'closed'), 'h:1'),
    ).toBeUndefined();
    expect(tlsRejection(undefined, 'h:1')).toBeUndefined();
  });
});
