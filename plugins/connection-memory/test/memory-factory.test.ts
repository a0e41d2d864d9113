import { type Connection, createRegistry, isTributaryError } from '@tributary/core';
import { describe, expect, it } from 'vitest';
import { createMemoryFactory, createMemoryPair, MemoryNamespace, plugin } from '../src/index.js';

async function failure(p: () => Promise<unknown>): Promise<unknown> {
  try {
    await p();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('connection-memory', () => {
  it('write() returns false once the peer buffer is full and drains only when the peer reads', async () => {
    const [a, b] = createMemoryPair({ highWaterMark: 1024 });
    expect(a.write(Buffer.alloc(512))).toBe(true);
    expect(a.write(Buffer.alloc(1024))).toBe(false); // b's readable buffer is full, a's writable queue too
    let drained = false;
    a.once('drain', () => {
      drained = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false); // nobody read
    let got = 0;
    b.on('data', (d: Buffer) => {
      got += d.length;
    });
    await new Promise((r) => a.once('drain', r));
    expect(drained).toBe(true);
    expect(got).toBe(1536);
  });

  it('copies written bytes (the writer may reuse its buffer)', async () => {
    const [a, b] = createMemoryPair();
    const buf = Buffer.from('hello');
    a.write(buf);
    buf.fill(0);
    expect((await new Promise<Buffer>((r) => b.once('data', r))).toString()).toBe('hello');
  });

  it('a clean close lets the peer read everything; destroy resets the peer', async () => {
    const [a, b] = createMemoryPair({ highWaterMark: 16 });
    a.end('0123456789abcdefghij'); // more than b's buffer
    b.end();
    await new Promise((r) => setImmediate(r));
    const chunks: Buffer[] = [];
    for await (const c of b) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('0123456789abcdefghij');

    const [c, d] = createMemoryPair();
    d.resume();
    const closed = new Promise((r) => d.once('close', r));
    c.destroy();
    await closed;
    expect(d.destroyed).toBe(true);
  });

  it('namespaces isolate listeners; port 0 allocates; a taken address fails typed', async () => {
    const ns1 = new MemoryNamespace();
    const ns2 = new MemoryNamespace();
    const f1 = createMemoryFactory({ namespace: ns1 });
    const f2 = createMemoryFactory({ namespace: ns2 });
    const l = await f1.listen({ host: 'svc', port: 0 }, (c) => c.end('hi'));
    expect(l.address().port).toBeGreaterThan(0);
    expect(
      isTributaryError(await failure(() => f1.listen(l.address(), () => {})), 'TRIB_MEMORY_LISTEN_FAILED'),
    ).toBe(true);
    expect(isTributaryError(await failure(() => f2.connect(l.address())), 'TRIB_CONNECT_REFUSED')).toBe(true);
    const conn = await f1.connect(l.address());
    expect(conn.remoteAddress).toBe('svc');
    expect((await new Promise<Buffer>((r) => conn.once('data', r))).toString()).toBe('hi');
    await l.close();
  });

  it('pending connects are refused when the listener closes, and beyond the backlog', async () => {
    const f = createMemoryFactory({ namespace: new MemoryNamespace(), backlog: 1 });
    const l = await f.listen({ host: 'slow', port: 0 }, (c) => c.destroy());
    l.pauseAccept();
    const first = f.connect(l.address(), { timeoutMs: 0 });
    expect(isTributaryError(await failure(() => f.connect(l.address())), 'TRIB_CONNECT_REFUSED')).toBe(true);
    await l.close();
    expect(isTributaryError(await failure(() => first), 'TRIB_CONNECT_REFUSED')).toBe(true);
  });

  it('resumeAccept serves the waiting connects in order', async () => {
    const f = createMemoryFactory({ namespace: new MemoryNamespace() });
    const order: number[] = [];
    const l = await f.listen({ host: 'q', port: 0 }, (c: Connection) => {
      c.once('data', (d: Buffer) => order.push(Number(d.toString())));
    });
    l.pauseAccept();
    const conns = [f.connect(l.address()), f.connect(l.address()), f.connect(l.address())];
    l.resumeAccept();
    const cs = await Promise.all(conns);
    for (const [i, c] of cs.entries()) c.write(String(i));
    const deadline = Date.now() + 5_000;
    while (order.length < 3 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(order).toEqual([0, 1, 2]);
    await l.close();
  });

  it('registers as the "memory" plugin', async () => {
    const registry = createRegistry();
    registry.register(plugin);
    const f = await registry.create('connection-factory', 'memory', { secure: true });
    const l = await f.listen({ host: 'reg', port: 0 }, (c) => c.end());
    const c = await f.connect(l.address());
    expect(c.secure).toBe(true);
    c.destroy();
    await l.close();
  });
});
