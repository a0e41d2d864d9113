// Streams: both sides may send many messages and either may close first; an id goes back to its
// range only once both sides closed. Ids are scoped by opener (the initiator flag), so the
// streams this side opened and those the peer opened live in separate tables.
import { FrameFlag, FrameKind } from '@tributary/codec';
import type { TributaryError } from '@tributary/core';
import {
  ErrStreamClosed,
  ErrTransportProtocol,
  ErrTransportRemote,
  ErrTransportTooManyStreams,
} from './errors.js';
import type { StreamCallback } from './incoming.js';
import { errorPayload, parseErrorPayload } from './internal/error-payload.js';
import type { OpaquePool } from './internal/opaque-pool.js';
import type { MessageType } from './message-type.js';

export interface SendOptions {
  /** Write the batch now instead of at the next flush. */
  flush?: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * One end of a stream. Either side may `send` many messages and either may `close`; the id goes
 * back to its range once both sides closed.
 */
export class Stream {
  readonly id: number;
  /** True on the side that called transport.stream(). */
  readonly initiator: boolean;
  #table: StreamTable;
  /** @internal */ callback: StreamCallback | undefined;
  /** @internal */ localClosed = false;
  /** @internal */ remoteClosed = false;

  /** @internal */
  constructor(table: StreamTable, id: number, initiator: boolean, callback: StreamCallback | undefined) {
    this.#table = table;
    this.id = id;
    this.initiator = initiator;
    this.callback = callback;
  }

  /** True once this side closed (it may still receive until the peer closes). */
  get closed(): boolean {
    return this.localClosed;
  }
  /** True once the peer closed its side. */
  get peerClosed(): boolean {
    return this.remoteClosed;
  }

  /** Sends one message to the peer; waits only when the outgoing queue is full. */
  send<T>(type: MessageType<T>, message: T, options?: SendOptions): Promise<void> {
    if (this.localClosed) return Promise.reject(ErrStreamClosed(this.id));
    return this.#table.host.send(
      FrameKind.StreamData,
      this.initiator ? FrameFlag.Initiator : 0,
      type.id,
      this.id,
      type.encode(message),
      options?.flush === true,
    );
  }

  /** Closes this side (idempotent). The peer's callback learns of it with `ended = true`. */
  close(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.#table.closedLocally(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export interface StreamTableHost {
  ids(): OpaquePool;
  isClosed(): boolean;
  send(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): Promise<void>;
  sendNoWait(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): void;
  decode(messageId: number, payload: Buffer): unknown;
  /** A stream callback threw. */
  callbackError(err: unknown): void;
  /** A stream message arrived with no callback to take it. */
  unhandled(): void;
}

export class StreamTable {
  readonly host: StreamTableHost;
  /** Streams this side opened, by id. */
  readonly #mine = new Map<number, Stream>();
  /** Streams the peer opened, by id. */
  readonly #peers = new Map<number, Stream>();
  readonly #maxPeerStreams: number;

  constructor(host: StreamTableHost, maxPeerStreams: number) {
    this.host = host;
    this.#maxPeerStreams = maxPeerStreams;
  }

  get open(): number {
    return this.#mine.size + this.#peers.size;
  }
  get peerOpen(): number {
    return this.#peers.size;
  }

  /** A stream this side opens with id `id` (already taken from the pool). */
  opened(id: number, onMessage: StreamCallback): Stream {
    const s = new Stream(this, id, true, onMessage);
    this.#mine.set(id, s);
    return s;
  }

  /** The open frame could not be sent: forget the stream and free its id. */
  openFailed(s: Stream): void {
    this.#mine.delete(s.id);
    if (!this.host.isClosed()) this.host.ids().release(s.id);
  }

  /** The peer opens stream `opaque`: refused past maxStreams or when the id is open already. */
  peerOpened(flags: number, opaque: number): Stream {
    if ((flags & FrameFlag.Initiator) === 0)
      throw ErrTransportProtocol('stream open without the initiator flag');
    if (this.#peers.has(opaque)) throw ErrTransportProtocol(`stream ${opaque} opened twice`);
    if (this.#peers.size >= this.#maxPeerStreams) throw ErrTransportTooManyStreams(this.#maxPeerStreams);
    const s = new Stream(this, opaque, false, undefined);
    this.#peers.set(opaque, s);
    return s;
  }

  /** Tells the opener why, and ends our side; the id is freed when its StreamEnd arrives. */
  refuse(s: Stream, err: unknown): void {
    this.host.sendNoWait(FrameKind.Error, 0, 0, s.id, errorPayload(err), false);
    s.close();
  }

  /** A data or end frame for an open stream. */
  onFrame(kind: FrameKind, flags: number, messageId: number, opaque: number, payload: Buffer): void {
    const s = (flags & FrameFlag.Initiator) !== 0 ? this.#peers.get(opaque) : this.#mine.get(opaque);
    if (s === undefined || s.remoteClosed)
      throw ErrTransportProtocol(
        `${kind === FrameKind.StreamEnd ? 'end' : 'data'} for stream ${opaque}, which is not open`,
      );
    if (kind === FrameKind.StreamEnd) {
      s.remoteClosed = true;
      this.#maybeFree(s);
      if (s.callback) this.#call(s.callback, undefined, true);
      return;
    }
    if (s.callback) this.#call(s.callback, this.host.decode(messageId, payload), false);
    else this.host.unhandled();
  }

  /**
   * An error frame about a stream: `initiator` set, one the peer opened; else one this side
   * opened. Returns false when there is no such stream.
   */
  onError(initiator: boolean, opaque: number, payload: Buffer): boolean {
    const s = initiator ? this.#peers.get(opaque) : this.#mine.get(opaque);
    if (s === undefined) return false;
    const { code, message } = parseErrorPayload(payload);
    const err = ErrTransportRemote(code, message, { details: { remoteCode: code } });
    s.remoteClosed = true;
    const cb = s.callback;
    if (!s.localClosed) s.close();
    else this.#maybeFree(s);
    if (cb) this.#call(cb, undefined, true, err);
    return true;
  }

  /** @internal Stream.close(): tell the peer, free the id if the peer closed too. */
  closedLocally(s: Stream): void {
    this.host.sendNoWait(FrameKind.StreamEnd, s.initiator ? FrameFlag.Initiator : 0, 0, s.id, EMPTY, false);
    this.#maybeFree(s);
  }

  #maybeFree(s: Stream): void {
    if (!s.localClosed || !s.remoteClosed) return;
    if (s.initiator) {
      if (this.#mine.get(s.id) === s) {
        this.#mine.delete(s.id);
        if (!this.host.isClosed()) this.host.ids().release(s.id);
      }
    } else if (this.#peers.get(s.id) === s) this.#peers.delete(s.id);
  }

  #call(cb: StreamCallback, msg: unknown, ended: boolean, err?: TributaryError): void {
    try {
      cb(msg, ended, err);
    } catch (e) {
      this.host.callbackError(e);
    }
  }

  /** The transport closed: every open stream ends with `err`. */
  failAll(err: TributaryError): void {
    const streams = [...this.#mine.values(), ...this.#peers.values()];
    this.#mine.clear();
    this.#peers.clear();
    for (const s of streams) {
      const wasOpen = !s.remoteClosed;
      s.localClosed = true;
      s.remoteClosed = true;
      if (wasOpen && s.callback) this.#call(s.callback, undefined, true, err);
    }
  }
}
