import { runConnectionFactoryConformance } from '@tributary/core/conformance';
import { createMemoryFactory, MemoryNamespace } from '../src/index.js';

const namespace = new MemoryNamespace();

runConnectionFactoryConformance('memory', {
  create: async () => createMemoryFactory({ namespace }),
  listenEndpoint: { host: 'conformance', port: 0 },
  secure: false,
  // A listener that stops accepting: connects wait, as against a full TCP backlog.
  unresponsiveEndpoint: async () => {
    const listener = await createMemoryFactory({ namespace }).listen({ host: 'blackhole', port: 0 }, (c) =>
      c.destroy(),
    );
    listener.pauseAccept();
    return { endpoint: listener.address(), close: () => listener.close() };
  },
});

runConnectionFactoryConformance('memory (secure)', {
  create: async () => createMemoryFactory({ namespace, secure: true }),
  listenEndpoint: { host: 'conformance-secure', port: 0 },
  secure: true,
  echoBytes: 1024 * 1024,
  unresponsiveEndpoint: async () => {
    const listener = await createMemoryFactory({ namespace }).listen({ host: 'blackhole', port: 0 }, (c) =>
      c.destroy(),
    );
    listener.pauseAccept();
    return { endpoint: listener.address(), close: () => listener.close() };
  },
});

runConnectionFactoryConformance('memory (allowHalfOpen)', {
  create: async () => createMemoryFactory({ namespace, allowHalfOpen: true }),
  listenEndpoint: { host: 'conformance-half-open', port: 0 },
  halfOpen: true,
  echoBytes: 1024 * 1024,
  unresponsiveEndpoint: async () => {
    const listener = await createMemoryFactory({ namespace }).listen({ host: 'blackhole', port: 0 }, (c) =>
      c.destroy(),
    );
    listener.pauseAccept();
    return { endpoint: listener.address(), close: () => listener.close() };
  },
});
