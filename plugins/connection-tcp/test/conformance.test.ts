import { runConnectionFactoryConformance } from '@tributary/core/conformance';
import { createTcpFactory } from '../src/index.js';

runConnectionFactoryConformance('tcp', {
  create: async () => createTcpFactory(),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
  secure: false,
});

runConnectionFactoryConformance('tcp (allowHalfOpen)', {
  create: async () => createTcpFactory({ allowHalfOpen: true }),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
  halfOpen: true,
  echoBytes: 1024 * 1024,
});
