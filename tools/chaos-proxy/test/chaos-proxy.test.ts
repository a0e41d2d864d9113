import { once } from 'node:events';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ChaosProxy, startChaosProxy } from '../src/index.js';

let echo: net.Server;
let proxy: ChaosProxy;

beforeEach(async () => {
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  proxy = await startChaosProxy({
    target: { host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port },
  });
});

afterEach(async () => {
  await proxy.close();
  await new Promise((r) => echo.close(r));
});

async function connect(): Promise<net.Socket> {
  const s = net.connect(proxy.address());
  await once(s, 'connect');
  return s;
}

function readBytes(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    const on = (c: Buffer) => {
      parts.push(c);
      got += c.length;
      if (got >= n) {
        s.off('data', on);
        resolve(Buffer.concat(parts));
      }
    };
    s.on('data', on);
  });
}

describe('chaos proxy', () => {
  it('forwards bytes intact in pass mode', async () => {
    const s = await connect();
    const payload = Buffer.alloc(1 << 20, 7);
    payload.writeUInt32BE(0xdeadbeef, 1000);
    const got = readBytes(s, payload.length);
    s.write(payload);
    expect((await got).equals(payload)).toBe(true);
    s.destroy();
  });

  it('delays every chunk by at least the set time, in order', async () => {
    const s = await connect();
    proxy.delay(120);
    const t0 = performance.now();
    const got = readBytes(s, 6);
    s.write('abc');
    s.write('def');
    expect((await got).toString()).toBe('abcdef');
    // Two hops through the proxy (there and back), each held >= 120 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(230);
    s.destroy();
  });

  it('throttles to the configured rate', async () => {
    const s = await connect();
    proxy.throttle(512 * 1024);
    const t0 = performance.now();
    const got = readBytes(s, 128 * 1024);
    s.write(Buffer.alloc(128 * 1024, 1));
    await got;
    // 128 KiB each way at 512 KiB/s is >= 250 ms per hop.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240);
    s.destroy();
  });

  it('black-holes traffic until resumed, keeping the connection open', async () => {
    const s = await connect();
    proxy.blackhole();
    s.write('lost');
    // The proxy counts what it dropped; wait for it instead of sleeping.
    while (proxy.stats.dropped < 4) await new Promise((r) => setImmediate(r));
    proxy.resume();
    const got = readBytes(s, 4);
    s.write('kept');
    expect((await got).toString()).toBe('kept');
    expect(proxy.openLinks).toBe(1);
    s.destroy();
  });

  it('cuts links with a FIN the client sees as end', async () => {
    const s = await connect();
    while (proxy.openLinks < 1) await new Promise((r) => setImmediate(r));
    const ended = once(s, 'end');
    expect(proxy.cut()).toBe(1);
    await ended;
    s.destroy();
  });

  it('resets links so the client sees ECONNRESET', async () => {
    const s = await connect();
    while (proxy.openLinks < 1) await new Promise((r) => setImmediate(r));
    const err = once(s, 'error');
    proxy.reset();
    const [e] = await err;
    expect((e as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  });

  it('refuses new connections until resumed', async () => {
    proxy.refuseNew();
    const s = net.connect(proxy.address());
    // events.once rejects on 'error'; the refusal shows as a reset, then close.
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => {});
    await closed;
    expect(proxy.stats.accepted).toBe(0);
    proxy.resume();
    const ok = await connect();
    const got = readBytes(ok, 2);
    ok.write('hi');
    expect((await got).toString()).toBe('hi');
    ok.destroy();
  });
});
