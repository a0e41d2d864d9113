import { Duplex } from 'node:stream';
import type { Connection } from '@tributary/core';

export interface MemoryConnectionOptions {
  secure: boolean;
  remoteAddress: string;
  remotePort: number;
  highWaterMark: number;
  allowHalfOpen: boolean;
}

/**
 * One end of an in-process pair. Bytes written here are pushed into the peer's readable side;
 * when the peer's buffer is full the write callback is held until the peer reads, so `write()`
 * returns false and 'drain' waits for the reader, exactly like a socket with full buffers.
 */
export class MemoryConnection extends Duplex implements Connection {
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  peer!: MemoryConnection;
  #pendingWrite: ((err?: Error | null) => void) | undefined;

  constructor(options: MemoryConnectionOptions) {
    super({
      allowHalfOpen: options.allowHalfOpen,
      readableHighWaterMark: options.highWaterMark,
      writableHighWaterMark: options.highWaterMark,
    });
    this.secure = options.secure;
    this.remoteAddress = options.remoteAddress;
    this.remotePort = options.remotePort;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (peer.destroyed) {
      callback(Object.assign(new Error('write to a destroyed memory connection'), { code: 'EPIPE' }));
      return;
    }
    // Copy: a socket's bytes are gone from the writer once written; callers may reuse the buffer.
    if (peer.push(Buffer.from(chunk))) callback();
    else this.#pendingWrite = callback;
  }

  override _read(): void {
    const peer = this.peer;
    if (!peer) return;
    const pending = peer.#pendingWrite;
    if (pending) {
      peer.#pendingWrite = undefined;
      pending();
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null); // half-close: the peer sees 'end'
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#pendingWrite = undefined;
    const clean = this.writableFinished && this.readableEnded;
    // A clean close leaves the peer to finish reading; anything else resets the pair.
    if (!clean && this.peer && !this.peer.destroyed) this.peer.destroy();
    callback(err);
  }
}

/** Two connected ends. */
export function createMemoryPair(
  options: {
    secure?: boolean;
    highWaterMark?: number;
    allowHalfOpen?: boolean;
    names?: [string, string];
    ports?: [number, number];
  } = {},
): [MemoryConnection, MemoryConnection] {
  const secure = options.secure ?? false;
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  const allowHalfOpen = options.allowHalfOpen ?? false;
  const [na, nb] = options.names ?? ['memory-a', 'memory-b'];
  const [pa, pb] = options.ports ?? [1, 2];
  // a's remote is b and vice versa.
  const a = new MemoryConnection({ secure, remoteAddress: nb, remotePort: pb, highWaterMark, allowHalfOpen });
  const b = new MemoryConnection({ secure, remoteAddress: na, remotePort: pa, highWaterMark, allowHalfOpen });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
