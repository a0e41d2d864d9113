import { runConnectionFactoryConformance } from '@tributary/core/conformance';
import { createNetFactory } from './net-factory.js';

// The same kit every first-party connection factory passes.
runConnectionFactoryConformance('net', {
  create: async () => createNetFactory(),
  listenEndpoint: { host: '127.0.0.1', port: 0 },
});
