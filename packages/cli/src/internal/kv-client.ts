import { createScramProvider } from '@tributary/auth-scram';
import {
  decodeGetAllVbSeqnosResponse,
  decodeSaslResponse,
  encodeDelete,
  encodeGetAllVbSeqnos,
  encodeSaslAuth,
  encodeSaslStep,
  encodeSelectBucket,
  encodeStore,
  FrameDecoder,
  Opcode,
  type Packet,
  Status,
  vbucketForKey,
} from '@tributary/codec';
import { createTcpFactory } from '@tributary/connection-tcp';
import type { Connection } from '@tributary/core';
import { type ClusterMap, fetchClusterMap } from '@tributary/datasource';
import { ErrCliKv } from '../errors.js';

interface Pending {
  resolve(p: Packet): void;
  reject(e: Error): void;
}

/** One authenticated KV connection with pipelined requests answered by opaque. */
class KvConnection {
  private readonly pending = new Map<number, Pending>();
  private opaque = 1;
  private closedWith: Error | undefined;
  constructor(
    readonly endpoint: string,
    private readonly conn: Connection,
  ) {
    const decoder = new FrameDecoder({ maxFrameBytes: 32 * 1024 * 1024 });
    conn.on('data', (chunk: Buffer) => {
      let packets: Packet[];
      try {
        packets = decoder.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const p of packets) {
        const w = this.pending.get(p.opaque);
        if (!w) continue; // server push (config change): ignored
        this.pending.delete(p.opaque);
        w.resolve(p);
      }
    });
    conn.on('error', (err: Error) => this.fail(err));
    conn.on('close', () => this.fail(ErrCliKv(endpoint, 'connection closed')));
  }
  get inFlight(): number {
    return this.pending.size;
  }
  private fail(err: Error): void {
    if (!this.closedWith) this.closedWith = err;
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
  }
  nextOpaque(): number {
    this.opaque = (this.opaque + 1) >>> 0 || 1;
    return this.opaque;
  }
  /** Sends one encoded request whose opaque is `opaque`; resolves with its response. */
  send(opaque: number, frame: Buffer): Promise<Packet> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<Packet>((resolve, reject) => {
      this.pending.set(opaque, { resolve, reject });
      this.conn.write(frame);
    });
  }
  /** Waits for the socket to drain (back-pressure). */
  async drained(): Promise<void> {
    if (!this.conn.writableNeedDrain) return;
    await new Promise<void>((r) => this.conn.once('drain', () => r()));
  }
  async authenticate(user: string, password: string, bucket: string): Promise<void> {
    const client = createScramProvider().createClient({
      mechanism: 'SCRAM-SHA512',
      username: user,
      password,
      secure: false,
    });
    let op = this.nextOpaque();
    let res = decodeSaslResponse(
      await this.send(
        op,
        encodeSaslAuth({ opaque: op, mechanism: 'SCRAM-SHA512', data: Buffer.from(client.start()) }),
      ),
    );
    while (res.status === Status.AuthContinue) {
      op = this.nextOpaque();
      res = decodeSaslResponse(
        await this.send(
          op,
          encodeSaslStep({ opaque: op, mechanism: 'SCRAM-SHA512', data: Buffer.from(client.step(res.data)) }),
        ),
      );
    }
    if (res.status !== Status.Success) throw ErrCliKv(this.endpoint, `authentication failed for ${user}`);
    if (res.data.length) client.finish(res.data);
    op = this.nextOpaque();
    const sel = await this.send(op, encodeSelectBucket({ opaque: op, bucket }));
    if (sel.status !== Status.Success)
      throw ErrCliKv(this.endpoint, `SELECT_BUCKET ${bucket} failed (status 0x${sel.status.toString(16)})`);
  }
  close(): void {
    this.conn.destroy();
  }
}

export interface KvWriterOptions {
  serverUrl: string;
  bucket: string;
  username: string;
  password: string;
  signal?: AbortSignal;
}

/** Writes documents through the KV protocol to the node owning each key's vbucket. */
export class KvWriter {
  private constructor(
    private readonly map: ClusterMap,
    private readonly conns: KvConnection[],
  ) {}

  static async connect(o: KvWriterOptions): Promise<KvWriter> {
    const map = await fetchClusterMap(o.serverUrl, {
      poolName: 'default',
      bucketName: o.bucket,
      username: o.username,
      password: o.password,
      signal: o.signal,
      timeoutMs: 10_000,
    });
    const factory = createTcpFactory();
    const conns: KvConnection[] = [];
    try {
      for (const server of map.servers) {
        const i = server.lastIndexOf(':');
        const conn = await factory.connect(
          { host: server.slice(0, i), port: Number(server.slice(i + 1)) },
          { signal: o.signal, timeoutMs: 10_000 },
        );
        const kv = new KvConnection(server, conn);
        conns.push(kv);
        await kv.authenticate(o.username, o.password, o.bucket);
      }
    } catch (err) {
      for (const c of conns) c.close();
      throw err;
    }
    return new KvWriter(map, conns);
  }

  get numVbuckets(): number {
    return this.map.numVbuckets;
  }

  private route(key: Buffer): { vb: number; conn: KvConnection } {
    const vb = vbucketForKey(key, this.map.numVbuckets);
    const idx = this.map.vbucketMap[vb]?.[0] ?? -1;
    const conn = this.conns[idx];
    if (!conn) throw ErrCliKv(this.map.sourceUrl, `no active node for vbucket ${vb}`);
    return { vb, conn };
  }

  /** Requests in flight over all connections. */
  get inFlight(): number {
    return this.conns.reduce((n, c) => n + c.inFlight, 0);
  }

  set(key: Buffer, value: Buffer, expiry: number, datatype: number): Promise<Packet> {
    const { vb, conn } = this.route(key);
    const opaque = conn.nextOpaque();
    return conn.send(
      opaque,
      encodeStore({
        opcode: Opcode.Set,
        vbucket: vb,
        opaque,
        cas: 0n,
        key,
        value,
        flags: 0,
        expiry,
        datatype,
      }),
    );
  }

  delete(key: Buffer): Promise<Packet> {
    const { vb, conn } = this.route(key);
    const opaque = conn.nextOpaque();
    return conn.send(opaque, encodeDelete({ vbucket: vb, opaque, cas: 0n, key }));
  }

  /** The high seqno of every vbucket (GET_ALL_VB_SEQNOS on every node). */
  async highSeqnos(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const conn of this.conns) {
      const opaque = conn.nextOpaque();
      const res = await conn.send(opaque, encodeGetAllVbSeqnos({ opaque, state: 1 }));
      for (const e of decodeGetAllVbSeqnosResponse(res)) out.set(e.vbucket, e.seqno);
    }
    return out;
  }

  async drained(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.drained()));
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
