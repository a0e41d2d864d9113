import { runConnectionFactoryConformance } from '@tributary/core/conformance';
import { createTcpFactory } from '../src/index.js';

runConnectionFactoryConformance('tcp', {
  create: async () => createTcpFactory(),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
  secure: false,
});
