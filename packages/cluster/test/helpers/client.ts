// A tiny memcached-binary/DCP test client built on @tributary/codec: raw pipelining, replies
// matched by (opcode, opaque), server-initiated messages (DCP) collected in order.
import net from 'node:net';
import { createScramProvider } from '@tributary/auth-scram';
import {
  DcpOpenFlag,
  decodeDcpDeletion,
  decodeDcpExpiration,
  decodeDcpMutation,
  decodeDcpSnapshotMarker,
  decodeDcpStreamEnd,
  encodeDcpBufferAck,
  encodeDcpControl,
  encodeDcpOpen,
  encodeDcpStreamReq,
  encodeHello,
  encodePacket,
  encodeResponse,
  encodeSaslAuth,
  encodeSaslListMechs,
  encodeSaslStep,
  encodeSelectBucket,
  FrameDecoder,
  HelloFeature,
  Magic,
  Opcode,
  type Packet,
  SEQNO_FOREVER,
  Status,
} from '@tributary/codec';

export const FEATURES: number[] = [
  HelloFeature.Xerror,
  HelloFeature.SelectBucket,
  HelloFeature.Json,
  HelloFeature.TcpNoDelay,
  HelloFeature.AltRequestSupport,
  HelloFeature.Snappy,
  HelloFeature.Xattr,
];

export interface DcpEvent {
  type: 'marker' | 'mutation' | 'deletion' | 'expiration' | 'end' | 'noop' | 'other';
  opcode: number;
  vbucket: number;
  opaque: number;
  size: number;
  packet: Packet;
  seqno?: number;
  revSeqno?: number;
  key?: string;
  value?: Buffer;
  start?: number;
  end?: number;
  flags?: number;
  reason?: number;
  cas?: bigint;
  expiry?: number;
}

function toEvent(p: Packet, size: number): DcpEvent {
  const base = { opcode: p.opcode, vbucket: p.vbucket, opaque: p.opaque, size, packet: p };
  switch (p.opcode) {
    case Opcode.DcpSnapshotMarker: {
      const m = decodeDcpSnapshotMarker(p);
      return { ...base, type: 'marker', start: m.startSeqno, end: m.endSeqno, flags: m.flags };
    }
    case Opcode.DcpMutation: {
      const m = decodeDcpMutation(p);
      return {
        ...base,
        type: 'mutation',
        seqno: m.bySeqno,
        revSeqno: m.revSeqno,
        key: Buffer.from(m.key).toString(),
        value: Buffer.from(m.value),
        cas: m.cas,
        flags: m.flags,
        expiry: m.expiry,
      };
    }
    case Opcode.DcpDeletion: {
      const m = decodeDcpDeletion(p);
      return {
        ...base,
        type: 'deletion',
        seqno: m.bySeqno,
        revSeqno: m.revSeqno,
        key: Buffer.from(m.key).toString(),
        cas: m.cas,
      };
    }
    case Opcode.DcpExpiration: {
      const m = decodeDcpExpiration(p);
      return {
        ...base,
        type: 'expiration',
        seqno: m.bySeqno,
        revSeqno: m.revSeqno,
        key: Buffer.from(m.key).toString(),
      };
    }
    case Opcode.DcpStreamEnd:
      return { ...base, type: 'end', reason: decodeDcpStreamEnd(p).reason };
    case Opcode.DcpNoop:
      return { ...base, type: 'noop' };
    default:
      return { ...base, type: 'other' };
  }
}

export class TestClient {
  readonly decoder = new FrameDecoder();
  readonly responses: Packet[] = [];
  readonly events: DcpEvent[] = [];
  readonly rawPackets: Packet[] = [];
  #waiters: { pred: () => boolean; resolve: () => void }[] = [];
  #opaque = 1;
  closed = false;
  /** Ack flow-controlled bytes automatically (when set > 0): after this many bytes. */
  autoAckEvery = 0;
  /** Answer DCP NOOPs automatically. */
  answerNoops = true;
  #unacked = 0;
  bytesReceived = 0;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.bytesReceived += chunk.length;
      for (const p of this.decoder.push(chunk)) this.#onPacket(p);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new TestClient(s)));
      s.once('error', reject);
    });
  }

  nextOpaque(): number {
    return this.#opaque++;
  }

  #onPacket(p: Packet): void {
    const size = 24 + p.framingExtras.length + p.extras.length + p.key.length + p.value.length;
    this.rawPackets.push(p);
    if (p.magic === Magic.Response || p.magic === Magic.AltResponse) {
      this.responses.push(p);
      return;
    }
    const e = toEvent(p, size);
    this.events.push(e);
    if (e.type === 'noop' && this.answerNoops) {
      this.socket.write(encodeResponse({ opcode: Opcode.DcpNoop, status: 0, opaque: p.opaque }));
      return;
    }
    if (this.autoAckEvery > 0 && e.type !== 'noop' && p.magic === Magic.Request) {
      this.#unacked += size;
      if (this.#unacked >= this.autoAckEvery) {
        this.ack(this.#unacked);
        this.#unacked = 0;
      }
    }
  }

  ack(bytes: number): void {
    this.socket.write(encodeDcpBufferAck({ opaque: 0, bytes }));
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) {
      if (x.pred() || this.closed) x.resolve();
      else this.#waiters.push(x);
    }
  }

  /** Resolves when `pred` holds (checked on every packet); rejects after `ms`. */
  until(pred: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      this.#waiters.push({
        pred,
        resolve: () => {
          clearTimeout(t);
          if (pred()) resolve();
          else reject(new Error(`connection closed while waiting for ${what}`));
        },
      });
    });
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
  }

  /** The response to (opcode, opaque), waiting for it. */
  async reply(opcode: number, opaque: number, ms = 10_000): Promise<Packet> {
    const find = () => this.responses.find((r) => r.opcode === opcode && r.opaque === opaque);
    await this.until(() => find() !== undefined, ms, `reply to 0x${opcode.toString(16)}/${opaque}`);
    return find()!;
  }

  /** Sends one request and waits for its reply. */
  async call(p: {
    opcode: number;
    vbucket?: number;
    key?: string | Buffer;
    extras?: Buffer;
    value?: string | Buffer;
    cas?: bigint;
    datatype?: number;
    magic?: number;
    framingExtras?: Buffer;
  }): Promise<Packet> {
    const opaque = this.nextOpaque();
    this.send(encodePacket({ magic: p.magic ?? Magic.Request, opaque, ...p }));
    return this.reply(p.opcode, opaque);
  }

  close(): void {
    this.socket.destroy();
  }

  closedPromise(): Promise<void> {
    return this.until(() => this.closed, 10_000, 'close');
  }
}

export interface BootstrapOptions {
  user?: string;
  password?: string;
  bucket?: string;
  features?: number[];
  mechanism?: string;
  /** 'hello-first' (gocbcore) or 'sasl-first' (java-dcp-client). */
  order?: 'hello-first' | 'sasl-first';
}

/** SCRAM/PLAIN login + HELLO + SELECT_BUCKET, pipelined like real clients. */
export async function bootstrap(c: TestClient, o: BootstrapOptions = {}): Promise<{ features: number[] }> {
  const user = o.user ?? 'Administrator';
  const password = o.password ?? 'password';
  const mechanism = o.mechanism ?? 'SCRAM-SHA512';
  const provider =
    mechanism === 'PLAIN'
      ? (await import('@tributary/auth-plain')).createPlainProvider({ allowInsecurePlain: true })
      : createScramProvider();
  const sasl = provider.createClient({ mechanism, username: user, password, secure: false });
  const helloOpaque = c.nextOpaque();
  const hello = encodeHello({
    opaque: helloOpaque,
    agent: '{"a":"tributary-test"}',
    features: o.features ?? FEATURES,
  });
  const mechsOpaque = c.nextOpaque();
  const authOpaque = c.nextOpaque();
  const auth = encodeSaslAuth({ opaque: authOpaque, mechanism, data: Buffer.from(sasl.start()) });
  if ((o.order ?? 'hello-first') === 'hello-first') {
    c.send(
      hello,
      encodePacket({
        magic: Magic.Request,
        opcode: Opcode.GetErrorMap,
        opaque: c.nextOpaque(),
        value: Buffer.from([0, 2]),
      }),
      encodeSaslListMechs({ opaque: mechsOpaque }),
      auth,
    );
  } else {
    c.send(encodeSaslListMechs({ opaque: mechsOpaque }), auth);
  }
  let r = await c.reply(Opcode.SaslAuth, authOpaque);
  if (r.status === Status.AuthContinue) {
    const stepOpaque = c.nextOpaque();
    c.send(encodeSaslStep({ opaque: stepOpaque, mechanism, data: Buffer.from(sasl.step(r.value)) }));
    r = await c.reply(Opcode.SaslStep, stepOpaque);
  }
  if (r.status !== Status.Success) throw new Error(`auth failed: status 0x${r.status.toString(16)}`);
  sasl.finish(r.value);
  if (o.order === 'sasl-first') c.send(hello);
  const hr = await c.reply(Opcode.Hello, helloOpaque);
  const features: number[] = [];
  for (let i = 0; i < hr.value.length; i += 2) features.push(hr.value.readUInt16BE(i));
  if (o.bucket !== undefined) {
    const so = c.nextOpaque();
    c.send(encodeSelectBucket({ opaque: so, bucket: o.bucket }));
    const sr = await c.reply(Opcode.SelectBucket, so);
    if (sr.status !== 0) throw new Error(`select bucket failed: 0x${sr.status.toString(16)}`);
  }
  return { features };
}

export async function dcpOpen(
  c: TestClient,
  name: string,
  flags: number = DcpOpenFlag.Producer,
  controls: Record<string, string> = {},
): Promise<void> {
  const o = c.nextOpaque();
  c.send(encodeDcpOpen({ opaque: o, name, flags }));
  const r = await c.reply(Opcode.DcpOpen, o);
  if (r.status !== 0) throw new Error(`DCP_OPEN failed 0x${r.status.toString(16)}`);
  for (const [key, value] of Object.entries(controls)) {
    const co = c.nextOpaque();
    c.send(encodeDcpControl({ opaque: co, key, value }));
    const cr = await c.reply(Opcode.DcpControl, co);
    if (cr.status !== 0) throw new Error(`control ${key} failed 0x${cr.status.toString(16)}`);
  }
}

export interface StreamReqOptions {
  vbucket: number;
  opaque?: number;
  flags?: number;
  startSeqno?: number;
  endSeqno?: number;
  vbucketUuid?: bigint;
  snapStart?: number;
  snapEnd?: number;
  value?: Buffer;
}

export async function streamReq(c: TestClient, o: StreamReqOptions): Promise<Packet> {
  const opaque = o.opaque ?? c.nextOpaque();
  c.send(
    encodeDcpStreamReq({
      vbucket: o.vbucket,
      opaque,
      flags: o.flags ?? 0,
      startSeqno: o.startSeqno ?? 0,
      endSeqno: o.endSeqno ?? SEQNO_FOREVER,
      vbucketUuid: o.vbucketUuid ?? 0n,
      snapStart: o.snapStart ?? o.startSeqno ?? 0,
      snapEnd: o.snapEnd ?? o.startSeqno ?? 0,
      value: o.value,
    }),
  );
  return c.reply(Opcode.DcpStreamReq, opaque);
}

export function eventsFor(c: TestClient, opaque: number): DcpEvent[] {
  return c.events.filter((e) => e.opaque === opaque && e.type !== 'noop');
}
