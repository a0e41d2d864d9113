// Raw sockets for the bad-input suites: send bytes, see whether the server closes the connection.
import net from 'node:net';
import { rng } from './load.js';

/** Sends `bytes` and resolves 'closed' when the server ends the connection, or 'open' after `waitMs`. */
export function sendRaw(
  port: number,
  bytes: Buffer,
  waitMs = 1500,
): Promise<{ outcome: 'closed' | 'open'; reply: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let done = false;
    const finish = (outcome: 'closed' | 'open') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ outcome, reply: Buffer.concat(chunks) });
    };
    const timer = setTimeout(() => finish('open'), waitMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => finish('closed'));
    s.on('close', () => finish('closed'));
  });
}

/** Random frames, and mutations of a valid frame (flipped bytes, truncated, garbage appended, huge length). */
export function badFrames(valid: Buffer, count: number, seed: number): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    if (kind === 0)
      out.push(Buffer.from(Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256))));
    else if (kind === 1) {
      const b = Buffer.from(valid);
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++)
        b[Math.floor(r() * Math.min(b.length, 24))] = Math.floor(r() * 256);
      b[0] = (b[0]! ^ 0x5a) & 0xff; // always a wrong magic/first byte
      out.push(b);
    } else if (kind === 2) out.push(Buffer.concat([Buffer.from([0xff, 0xfe]), valid]));
    else
      out.push(
        Buffer.concat([valid, Buffer.from(Array.from({ length: 64 }, () => Math.floor(r() * 256)))]).subarray(
          1,
        ),
      );
  }
  return out;
}
