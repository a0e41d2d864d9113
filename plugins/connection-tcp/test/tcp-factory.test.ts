import net from 'node:net';
import { createRegistry, isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { createTcpFactory, plugin, plugins } from '../src/index.js';

describe('connection-tcp', () => {
  it('registers as the "tcp" connection-factory plugin and validates options', async () => {
    const registry = createRegistry();
    registry.register(plugin);
    expect(plugins).toContain(plugin);
    const factory = await registry.create('connection-factory', 'tcp', { connectTimeoutMs: 500 });
    expect(factory.name).toBe('tcp');
    let err: unknown;
    try {
      await registry.create('connection-factory', 'tcp', { connectTimeoutMs: -1 });
    } catch (e) {
      err = e;
    }
    expect(isTributaryError(err, 'TRIB_PLUGIN_OPTIONS')).toBe(true);
  });

  it('the connection is the net.Socket itself, with secure: false', async () => {
    const factory = createTcpFactory();
    const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (c) => c.end());
    try {
      const conn = await factory.connect(listener.address());
      expect(conn).toBeInstanceOf(net.Socket);
      expect(conn.secure).toBe(false);
      conn.destroy();
    } finally {
      await listener.close();
    }
  });

  it('listening on a port in use fails with TRIB_TCP_LISTEN_FAILED', async () => {
    const factory = createTcpFactory();
    const first = await factory.listen({ host: '127.0.0.1', port: 0 }, (c) => c.end());
    try {
      let err: unknown;
      try {
        await factory.listen(first.address(), (c) => c.end());
      } catch (e) {
        err = e;
      }
      expect(isTributaryError(err, 'TRIB_TCP_LISTEN_FAILED')).toBe(true);
    } finally {
      await first.close();
    }
  });

  it('a listener whose onConnection throws destroys that connection and keeps serving', async () => {
    const factory = createTcpFactory();
    let n = 0;
    const listener = await factory.listen({ host: '127.0.0.1', port: 0 }, (c) => {
      n++;
      if (n === 1) throw new Error('boom');
      c.end('ok');
    });
    try {
      const a = await factory.connect(listener.address());
      await new Promise((r) => a.once('end', r).resume()); // allowHalfOpen: the FIN shows as 'end'
      a.destroy();
      const b = await factory.connect(listener.address());
      const data = await new Promise<Buffer>((r) => b.once('data', r));
      expect(data.toString()).toBe('ok');
      b.destroy();
      expect(n).toBe(2);
    } finally {
      await listener.close();
    }
  });
});
