import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const read = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)));

export const fixtures = {
  ca: read('ca.crt'),
  serverCert: read('server.crt'),
  serverKey: read('server.key'),
  clientCert: read('client.crt'),
  clientKey: read('client.key'),
  otherCa: read('other-ca.crt'),
  intruderCert: read('intruder.crt'),
  intruderKey: read('intruder.key'),
};
