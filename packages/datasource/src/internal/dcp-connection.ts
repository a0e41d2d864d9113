import { FrameDecoder, type WirePacket } from '@tributary/codec';
import type { Connection } from '@tributary/core';
import { FlowControl } from '../flow-control.js';
import { bufferAckPacket } from './wire.js';

export interface RpcWaiter {
  resolve: (p: WirePacket) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

export interface DcpConnectionHooks {
  /** Every packet not claimed by a pending rpc, in wire order. */
  onPacket(p: WirePacket): void;
  /** Called once when the connection ends, with why (undefined for a clean local close). */
  onClose(err: Error | undefined): void;
  onBadFrame(err: Error): void;
  onAck(bytes: number): void;
}

/**
 * One DCP connection to a data node: frame decoding, pipelined request/response matching by
 * opaque, batched writes (one socket write per tick), and flow-control accounting.
 */
export class DcpConnection {
  readonly socket: Connection;
  readonly fc: FlowControl;
  readonly server: string;
  alive = true;
  /** Set on any received byte; the ping timer clears it. */
  activity = true;
  pingOutstanding = false;
  readonly streamReqs = new Map<number, import('./vbucket.js').VBucket>();
  readonly closeReqs = new Map<number, import('./vbucket.js').VBucket>();
  readonly #rpcs = new Map<number, RpcWaiter>();
  readonly #decoder: FrameDecoder;
  readonly #hooks: DcpConnectionHooks;
  #out: Buffer[] = [];
  #flushScheduled = false;
  readonly closed: Promise<Error | undefined>;
  #resolveClosed!: (err: Error | undefined) => void;
  #closeReason: Error | undefined;
  #inChunk = false;
  #chunkFinished = 0;

  constructor(
    socket: Connection,
    server: string,
    bufferSize: number,
    ackThreshold: number,
    hooks: DcpConnectionHooks,
  ) {
    this.socket = socket;
    this.server = server;
    this.fc = new FlowControl(bufferSize, ackThreshold);
    this.#decoder = new FrameDecoder();
    this.#hooks = hooks;
    this.closed = new Promise((r) => {
      this.#resolveClosed = r;
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: Error) => this.destroy(err));
    socket.on('close', () => this.destroy(this.#closeReason ?? new Error('connection closed by peer')));
    socket.on('end', () => this.destroy(new Error('connection ended by peer')));
  }

  #onData(chunk: Buffer): void {
    if (!this.alive) return;
    this.activity = true;
    let packets: WirePacket[];
    try {
      packets = this.#decoder.push(chunk);
    } catch (err) {
      this.#hooks.onBadFrame(err as Error);
      this.destroy(err as Error);
      return;
    }
    const hooks = this.#hooks;
    // Messages the receiver finishes synchronously are accounted once per chunk (see finished()).
    this.#inChunk = true;
    try {
      for (let i = 0; i < packets.length; i++) {
        if (!this.alive) return;
        const p = packets[i]!;
        if (this.#rpcs.size > 0 && (p.magic & 0x01) === 0x01 && (p.magic === 0x81 || p.magic === 0x18)) {
          const w = this.#rpcs.get(p.opaque);
          if (w) {
            this.#rpcs.delete(p.opaque);
            clearTimeout(w.timer);
            w.resolve(p);
            continue;
          }
        }
        hooks.onPacket(p);
      }
    } finally {
      this.#inChunk = false;
      const bytes = this.#chunkFinished;
      if (bytes > 0) {
        this.#chunkFinished = 0;
        this.#finish(bytes);
      }
    }
  }

  /** Queues bytes; everything queued in one tick goes out in one write. */
  send(buf: Buffer): void {
    if (!this.alive) return;
    this.#out.push(buf);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    if (!this.alive || this.#out.length === 0) return;
    const out = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out);
    this.#out = [];
    this.socket.write(out);
  }

  /** Sends a request and resolves with the response of the same opaque. */
  rpc(buf: Buffer, opaque: number, what: string, timeoutMs: number): Promise<WirePacket> {
    if (!this.alive) return Promise.reject(this.#closeReason ?? new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#rpcs.delete(opaque);
        reject(new Error(`no reply to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#rpcs.set(opaque, { resolve, reject, timer, what });
      this.send(buf);
    });
  }

  /**
   * The receiver finished `bytes` of counted messages; acknowledges at the threshold. Within a
   * chunk the bytes are summed and accounted when the chunk is done (still only finished work).
   */
  finished(bytes: number): void {
    if (this.#inChunk) this.#chunkFinished += bytes;
    else this.#finish(bytes);
  }

  #finish(bytes: number): void {
    if (!this.alive) return;
    const n = this.fc.finished(bytes);
    if (n > 0) {
      this.send(bufferAckPacket(n));
      this.#hooks.onAck(n);
    }
  }

  destroy(err?: Error): void {
    if (!this.alive) return;
    this.alive = false;
    this.#closeReason = err;
    for (const w of this.#rpcs.values()) {
      clearTimeout(w.timer);
      w.reject(err ?? new Error('connection closed'));
    }
    this.#rpcs.clear();
    this.#out = [];
    this.socket.destroy();
    this.#hooks.onClose(err);
    this.#resolveClosed(err);
  }
}
