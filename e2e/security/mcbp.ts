// A bare memcached-binary-protocol connection for the security suites: they must send what no
// well-behaved client sends (a SASL exchange cut halfway, stream requests past the limits), so
// they drive the wire themselves with the codec's encoders and its streaming decoder.
import net from 'node:net';
import tls from 'node:tls';
import { createScramProvider } from '@tributary/auth-scram';
import {
  encodeHello,
  encodeSaslAuth,
  encodeSaslStep,
  encodeSelectBucket,
  FrameDecoder,
  HelloFeature,
  Status,
  type WirePacket,
} from '@tributary/codec';

export class RawMcbp {
  readonly packets: WirePacket[] = [];
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];
  #decoder = new FrameDecoder();
  #opaque = 1;
  #ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const p of this.#decoder.push(chunk)) this.packets.push(p);
      this.#wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#ended = true;
        this.#wake();
        resolve();
      });
    });
    socket.on('error', () => {}); // 'close' follows; the tests look at what was received
  }

  /** Connects over TCP, or TLS when `tlsOptions` is given (resolves after the handshake). */
  static connect(port: number, tlsOptions?: tls.ConnectionOptions): Promise<RawMcbp> {
    return new Promise((resolve, reject) => {
      const s = tlsOptions
        ? tls.connect({ host: '127.0.0.1', port, ...tlsOptions }, () => resolve(new RawMcbp(s)))
        : net.connect(port, '127.0.0.1', () => resolve(new RawMcbp(s)));
      s.once('error', reject);
    });
  }

  nextOpaque(): number {
    return this.#opaque++;
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** The first packet received (now or later) that `match` accepts; removed from `packets`. */
  async take(match: (p: WirePacket) => boolean, timeoutMs = 5000): Promise<WirePacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.packets.findIndex(match);
      if (i >= 0) return this.packets.splice(i, 1)[0]!;
      if (this.#ended) throw new Error('connection closed before the expected packet');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a request and resolves with the response carrying its opaque. */
  async call(request: Buffer): Promise<WirePacket> {
    const opaque = request.readUInt32BE(12);
    this.socket.write(request);
    return this.take((p) => p.magic === 0x81 && p.opaque === opaque);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** HELLO with XERROR and JSON, as the security suites' raw clients open. */
export async function hello(c: RawMcbp, agent = 'e2e-security'): Promise<WirePacket> {
  return c.call(
    encodeHello({ opaque: c.nextOpaque(), agent, features: [HelloFeature.Xerror, HelloFeature.Json] }),
  );
}

/** A cluster counter or gauge by name (0 when not reported yet). */
export function clusterStat(
  cluster: { stats(): unknown },
  kind: 'counters' | 'gauges',
  name: string,
): number {
  return (cluster.stats() as Record<typeof kind, Record<string, number>>)[kind][name] ?? 0;
}

/** HELLO (XERROR, JSON), a full SCRAM-SHA256 login, then SELECT_BUCKET. Throws on any refusal. */
export async function login(c: RawMcbp, username: string, password: string, bucket: string): Promise<void> {
  await hello(c);
  const mechanism = 'SCRAM-SHA256';
  const client = createScramProvider().createClient({ mechanism, username, password, secure: false });
  const first = await c.call(
    encodeSaslAuth({ opaque: c.nextOpaque(), mechanism, data: Buffer.from(client.start()) }),
  );
  if (first.status !== Status.AuthContinue)
    throw new Error(`SASL_AUTH status 0x${first.status.toString(16)}`);
  const final = await c.call(
    encodeSaslStep({ opaque: c.nextOpaque(), mechanism, data: Buffer.from(client.step(first.value)) }),
  );
  if (final.status !== Status.Success) throw new Error(`SASL_STEP status 0x${final.status.toString(16)}`);
  client.finish(final.value);
  const sel = await c.call(encodeSelectBucket({ opaque: c.nextOpaque(), bucket }));
  if (sel.status !== Status.Success) throw new Error(`SELECT_BUCKET status 0x${sel.status.toString(16)}`);
}
