// The longpoll wake scenario's HTTP clients, run in a child process (forked by
// ../channel-index-longpoll-wake.ts): kept-alive HTTP/1.1 connections, one longpoll each per
// round, each answer's receive time (process.hrtime, the parent's clock too) sent back.
//
// A lean client on purpose: 1,000 real clients each parse their own answer on their own device;
// here one process parses them all, one after another, and a general client (undici: ~10-20 µs a
// response) made that queue, not the server, most of the measured p99. This one reads the status,
// the chunked or sized body, and parses the JSON, as any client must.
import net from 'node:net';

export type ToClients =
  | { type: 'round'; url: string; path: string; auth: string; n: number }
  | { type: 'stop' };
export type FromClients =
  | { type: 'ready' }
  | { type: 'done'; times: string[] }
  | { type: 'error'; message: string };

interface Parsed {
  status: number;
  body: Buffer;
  used: number;
}

/** One complete response at the start of `buf`, or undefined while it is incomplete. */
export function parseResponse(buf: Buffer): Parsed | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = buf.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  let pos = headEnd + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) {
    const end = pos + Number(length[1]);
    return buf.length < end ? undefined : { status, body: buf.subarray(pos, end), used: end };
  }
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) throw new Error(`no body length in:\n${head}`);
  const parts: Buffer[] = [];
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buf.toString('latin1', pos, lineEnd), 16);
    const end = lineEnd + 2 + size + 2;
    if (buf.length < end) return undefined;
    if (size === 0) return { status, body: Buffer.concat(parts), used: end };
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = end;
  }
}

/** One kept-alive connection, one request at a time. */
class Connection {
  readonly #socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #pending: { resolve(p: Parsed): void; reject(err: Error): void } | undefined;

  /** Settles once connected (or failed: the request then fails). */
  readonly connected: Promise<void>;

  constructor(host: string, port: number) {
    this.#socket = net.connect(port, host);
    this.#socket.setNoDelay(true);
    this.connected = new Promise<void>((resolve) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('close', resolve);
    });
    this.#socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      let r: Parsed | undefined;
      try {
        r = parseResponse(this.#buf);
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
      if (!r) return;
      this.#buf = this.#buf.subarray(r.used);
      const p = this.#pending;
      this.#pending = undefined;
      p?.resolve(r);
    });
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('connection closed by the server')));
  }

  #fail(err: Error): void {
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }

  get(host: string, path: string, auth: string): Promise<Parsed> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nauthorization: ${auth}\r\n\r\n`);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Connections opened at once, each wave connected before the next. */
const CONNECT_WAVE = 256;

function main(): void {
  // (kept-alive connections per server: the index's and the bare node:http one of the peer)
  const pools = new Map<string, Connection[]>();
  const send = (m: FromClients) => process.send!(m);
  process.on('message', (m: ToClients) => {
    if (m.type === 'stop') {
      for (const conns of pools.values()) for (const c of conns) c.close();
      process.exit(0);
    }
    const { hostname, port, host } = new URL(m.url);
    let conns = pools.get(m.url);
    if (!conns) {
      // (one server's connections at a time: two sets of 10,000 pass the descriptor limit)
      for (const other of pools.values()) for (const c of other) c.close();
      pools.clear();
      pools.set(m.url, (conns = [] as Connection[]));
    }
    const pool = conns;
    const one = async (c: Connection) => {
      const r = await c.get(host, m.path, m.auth);
      const body = JSON.parse(r.body.toString('utf8')) as { results: unknown[] };
      const t = process.hrtime.bigint();
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
      if (body.results.length !== 1) throw new Error(`expected one change, got ${body.results.length}`);
      return String(t);
    };
    const open = async () => {
      // In waves: 10,000 connects at once overflowed the server's accept queue (backlog 511;
      // 67,407 overflows in one round of 10,000 here, 3,279 in waves), and a round once failed
      // on a reset.
      while (pool.length < m.n) {
        const wave: Connection[] = [];
        while (pool.length < m.n && wave.length < CONNECT_WAVE) {
          const c = new Connection(hostname, Number(port));
          wave.push(c);
          pool.push(c);
        }
        await Promise.all(wave.map((c) => c.connected));
      }
      return Promise.all(pool.slice(0, m.n).map(one));
    };
    open().then(
      (times) => send({ type: 'done', times }),
      (err: Error) => send({ type: 'error', message: err.message }),
    );
  });
  send({ type: 'ready' });
}

/** Set by the scenario on the child it forks. */
export const CLIENTS_ENV = 'TRIBUTARY_LONGPOLL_BENCH_CLIENTS';

if (process.env[CLIENTS_ENV] === '1' && process.send) main();
