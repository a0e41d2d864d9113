import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Connection, ConnectionFactory, Endpoint, Listener } from '@tributary/core';

/** Polls `cond` until true or the deadline passes (no fixed sleeps). */
export async function until(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function failure(p: () => Promise<unknown>): Promise<unknown> {
  try {
    await p();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** An echo server that tracks how many connections are open at once (the server's view of max). */
export class TrackingServer {
  open = new Set<Connection>();
  peak = 0;
  accepted = 0;
  dead = false;
  listener!: Listener;
  constructor(readonly factory: ConnectionFactory) {}

  async start(endpoint: Endpoint = { host: '127.0.0.1', port: 0 }): Promise<this> {
    this.dead = false;
    this.listener = await this.factory.listen(endpoint, (c) => {
      // TLS 1.3: a client can finish its handshake before the server has; one that completes
      // after kill() must not survive it.
      if (this.dead) {
        c.destroy();
        return;
      }
      this.accepted++;
      this.open.add(c);
      this.peak = Math.max(this.peak, this.open.size);
      c.on('error', () => {});
      c.on('close', () => this.open.delete(c));
      c.on('end', () => c.end());
      c.pipe(c, { end: false });
    });
    return this;
  }

  get endpoint(): Endpoint {
    return this.listener.address();
  }

  /** Stops listening and resets every open connection: "the server died". */
  async kill(): Promise<void> {
    this.dead = true;
    await this.listener.close();
    for (const c of this.open) c.destroy();
    await until(() => this.open.size === 0, 'server connections to close');
  }

  async close(): Promise<void> {
    await this.kill();
  }
}

/** Sends a line and waits for its echo: proves the connection works end to end. */
export function ping(c: Connection, text = 'ping'): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      c.off('error', reject);
      resolve(d.toString());
    };
    c.once('data', onData);
    c.once('error', reject);
    c.write(text);
  });
}

const fixture = (name: string) =>
  readFileSync(
    fileURLToPath(new URL(`../../../plugins/connection-tls/test/fixtures/${name}`, import.meta.url)),
  );

export const tlsFixtures = {
  ca: () => fixture('ca.crt'),
  cert: () => fixture('server.crt'),
  key: () => fixture('server.key'),
};
