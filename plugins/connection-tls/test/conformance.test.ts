import { runConnectionFactoryConformance } from '@tributary/core/conformance';
import { createTlsFactory } from '../src/index.js';
import { fixtures } from './fixtures.js';

// The listening side uses the server certificate; the connecting side trusts the test CA.
runConnectionFactoryConformance('tls', {
  create: async () =>
    createTlsFactory({ ca: fixtures.ca, cert: fixtures.serverCert, key: fixtures.serverKey }),
  createClient: async () => createTlsFactory({ ca: fixtures.ca }),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
  secure: true,
});

runConnectionFactoryConformance('tls (mutual)', {
  create: async () =>
    createTlsFactory({
      ca: fixtures.ca,
      cert: fixtures.serverCert,
      key: fixtures.serverKey,
      requestCert: true,
    }),
  createClient: async () =>
    createTlsFactory({
      ca: fixtures.ca,
      cert: fixtures.clientCert,
      key: fixtures.clientKey,
      servername: 'localhost',
    }),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
  secure: true,
  echoBytes: 2 * 1024 * 1024,
});

runConnectionFactoryConformance('tls (allowHalfOpen)', {
  create: async () =>
    createTlsFactory({
      ca: fixtures.ca,
      cert: fixtures.serverCert,
      key: fixtures.serverKey,
      allowHalfOpen: true,
    }),
  createClient: async () => createTlsFactory({ ca: fixtures.ca, allowHalfOpen: true }),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
  secure: true,
  halfOpen: true,
  echoBytes: 1024 * 1024,
});
