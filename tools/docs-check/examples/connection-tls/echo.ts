import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTlsFactory } from '@tributary/connection-tls';

// PEM files: a CA, and a server certificate it signed for 127.0.0.1 / localhost.
const pem = (f: string) => readFileSync(join('certs', f));
const server = createTlsFactory({ cert: pem('server.crt'), key: pem('server.key') });
const client = createTlsFactory({ ca: pem('ca.crt') }); // rejectUnauthorized: true

const listener = await server.listen({ host: '127.0.0.1', port: 0 }, (conn) =>
  conn.end(`secure=${conn.secure}`),
);
const conn = await client.connect(listener.address(), { timeoutMs: 5_000 });
conn.once('data', async (d) => {
  console.log(d.toString()); // secure=true
  conn.destroy();
  await listener.close();
});
