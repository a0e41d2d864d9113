import { EventEmitter } from 'node:events';
import net from 'node:net';

/** How the proxy treats traffic right now. Changing it applies to open links at once. */
export type ChaosMode =
  /** Forward bytes as they come. */
  | { kind: 'pass' }
  /** Hold every chunk for `ms` before forwarding (order kept). */
  | { kind: 'delay'; ms: number }
  /** Forward at most `bytesPerSecond` per direction per link. */
  | { kind: 'throttle'; bytesPerSecond: number }
  /** Read and drop everything; connections stay open, nothing arrives (a dead network path). */
  | { kind: 'blackhole' };

export interface ChaosProxyOptions {
  /** Where the real server listens. */
  target: { host: string; port: number };
  /** Loopback only: a chaos proxy never listens beyond this machine. */
  host?: '127.0.0.1' | '::1' | 'localhost';
  port?: number;
}

interface Link {
  id: number;
  client: net.Socket;
  server: net.Socket;
}

export interface ChaosStats {
  accepted: number;
  open: number;
  bytesUp: number;
  bytesDown: number;
  dropped: number;
  cuts: number;
  resets: number;
}

/**
 * A TCP proxy on loopback for fault tests: put it between a client and a server, then delay,
 * throttle, cut (FIN), reset (RST), black-hole or pause new connections, and resume.
 * Bounded: a delayed or throttled link pauses its source socket instead of queueing without limit.
 */
export class ChaosProxy extends EventEmitter {
  readonly #options: ChaosProxyOptions;
  readonly #server: net.Server;
  readonly #links = new Map<number, Link>();
  #mode: ChaosMode = { kind: 'pass' };
  #refuse = false;
  #nextId = 1;
  readonly stats: ChaosStats = {
    accepted: 0,
    open: 0,
    bytesUp: 0,
    bytesDown: 0,
    dropped: 0,
    cuts: 0,
    resets: 0,
  };

  constructor(options: ChaosProxyOptions) {
    super();
    this.#options = options;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  async listen(): Promise<{ host: string; port: number }> {
    const host = this.#options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port ?? 0, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.address();
  }

  address(): { host: string; port: number } {
    const a = this.#server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  get mode(): ChaosMode {
    return this.#mode;
  }

  /** Switches every link (open and future) to `mode`. */
  set(mode: ChaosMode): void {
    this.#mode = mode;
    this.emit('mode', mode);
  }

  delay(ms: number): void {
    this.set({ kind: 'delay', ms });
  }

  throttle(bytesPerSecond: number): void {
    this.set({ kind: 'throttle', bytesPerSecond });
  }

  blackhole(): void {
    this.set({ kind: 'blackhole' });
  }

  /** Back to plain forwarding, and accepting new connections again. */
  resume(): void {
    this.#refuse = false;
    this.set({ kind: 'pass' });
  }

  /** New connections are closed at once until resume(); open links are untouched. */
  refuseNew(): void {
    this.#refuse = true;
  }

  /** Closes every open link with a FIN on both sides (a clean cut). */
  cut(): number {
    let n = 0;
    for (const link of this.#links.values()) {
      link.client.end();
      link.server.end();
      n++;
    }
    this.stats.cuts += n;
    return n;
  }

  /** Resets every open link (RST on both sides), as a crashed peer or a middlebox would. */
  reset(): number {
    let n = 0;
    for (const link of this.#links.values()) {
      link.client.resetAndDestroy();
      link.server.resetAndDestroy();
      n++;
    }
    this.stats.resets += n;
    return n;
  }

  get openLinks(): number {
    return this.#links.size;
  }

  async close(): Promise<void> {
    for (const link of this.#links.values()) {
      link.client.destroy();
      link.server.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#refuse) {
      client.resetAndDestroy();
      return;
    }
    const server = net.connect(this.#options.target);
    const link: Link = { id: this.#nextId++, client, server };
    this.#links.set(link.id, link);
    this.stats.accepted++;
    this.stats.open = this.#links.size;
    client.setNoDelay(true);
    server.setNoDelay(true);
    const done = () => {
      if (!this.#links.delete(link.id)) return;
      this.stats.open = this.#links.size;
      client.destroy();
      server.destroy();
      this.emit('linkClosed', link.id);
    };
    client.on('error', done).on('close', done);
    server.on('error', done).on('close', done);
    this.#pipe(client, server, 'up');
    this.#pipe(server, client, 'down');
    this.emit('link', link.id);
  }

  #pipe(from: net.Socket, to: net.Socket, dir: 'up' | 'down'): void {
    // One chain per direction keeps chunk order through delays and throttling.
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    const HIGH_WATER = 1 << 20;
    from.on('end', () => {
      chain = chain.then(() => {
        if (!to.destroyed) to.end();
      });
    });
    from.on('data', (chunk: Buffer) => {
      const mode = this.#mode;
      if (mode.kind === 'blackhole') {
        this.stats.dropped += chunk.length;
        return;
      }
      if (mode.kind === 'pass' && pending === 0) {
        this.#count(dir, chunk.length);
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
        return;
      }
      pending += chunk.length;
      if (pending > HIGH_WATER) from.pause();
      chain = chain.then(async () => {
        const m = this.#mode;
        if (m.kind === 'delay') await sleep(m.ms);
        else if (m.kind === 'throttle') await sleep((chunk.length / m.bytesPerSecond) * 1000);
        pending -= chunk.length;
        if (pending <= HIGH_WATER && from.isPaused()) from.resume();
        if (this.#mode.kind === 'blackhole') {
          this.stats.dropped += chunk.length;
          return;
        }
        if (to.destroyed) return;
        this.#count(dir, chunk.length);
        if (!to.write(chunk)) await new Promise<void>((r) => to.once('drain', () => r()));
      });
    });
  }

  #count(dir: 'up' | 'down', n: number): void {
    if (dir === 'up') this.stats.bytesUp += n;
    else this.stats.bytesDown += n;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startChaosProxy(options: ChaosProxyOptions): Promise<ChaosProxy> {
  const p = new ChaosProxy(options);
  await p.listen();
  return p;
}
