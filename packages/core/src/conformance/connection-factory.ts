import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionFactory, Endpoint } from '../contracts/connection-factory.js';

export interface ConnectionFactoryConformanceOptions {
  create: () => Promise<ConnectionFactory>;
  /** Where to listen (port 0 allowed). */
  listenEndpoint: Endpoint;
}

/** The cases every connection-factory plugin must pass. */
export function runConnectionFactoryConformance(name: string, options: ConnectionFactoryConformanceOptions): void {
  describe(`connection-factory conformance: ${name}`, () => {
    it('connects to a listener and echoes bytes', async () => {
      const factory = await options.create();
      const listener = await factory.listen(options.listenEndpoint, (c: Connection) => c.pipe(c));
      try {
        const conn = await factory.connect(listener.address());
        const got = new Promise<Buffer>((resolve) => conn.once('data', resolve));
        conn.write('ping');
        expect((await got).toString()).toBe('ping');
        conn.destroy();
      } finally {
        await listener.close();
      }
    });
  });
}
