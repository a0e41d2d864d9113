// The multiplexed transport over one Connection, in the manner of gofast: this file is the
// muxer (read path, dispatch to handlers, lifecycle). The parts live beside it, one concept a
// file as js-libp2p's yamux splits muxer, stream and frame codec: handshake.ts, call-table.ts
// (requests ↔ replies), stream.ts, flusher.ts (write batching, back-pressure), heartbeats.ts.
import { EventEmitter } from 'node:events';
import { FrameFlag, FrameKind, TransportFrameDecoder, type TransportFrameHandler } from '@tributary/codec';
import {
  type Connection,
  componentLogger,
  ErrAborted,
  ErrInvalidArgument,
  isTributaryError,
  type Logger,
  TributaryError,
} from '@tributary/core';
import { createMetrics, type MetricsRegistry } from '@tributary/metrics';
import { CallTable } from './call-table.js';
import {
  ErrTransportClosed,
  ErrTransportConnectionLost,
  ErrTransportHandshakeFailed,
  ErrTransportNoHandler,
  ErrTransportNotReady,
  ErrTransportProtocol,
  ErrTransportRemote,
  ErrTransportStreamIdRange,
  isPeerViolation,
  isStreamLimitViolation,
} from './errors.js';
import { Flusher } from './flusher.js';
import { Handshake, type TransportAuth } from './handshake.js';
import { Heartbeats } from './heartbeats.js';
import {
  type AnswerSink,
  type Incoming,
  IncomingCall,
  type MessageHandler,
  type StreamCallback,
} from './incoming.js';
import { errorPayload, parseErrorPayload } from './internal/error-payload.js';
import { isValidVersion, type PeerHello } from './internal/hello.js';
import { OpaquePool } from './internal/opaque-pool.js';
import { TransportCounters } from './internal/transport-counters.js';
import { type BinMessage, checkMessageType, type MessageType } from './message-type.js';
import { type SendOptions, type Stream, StreamTable } from './stream.js';
import { checkSettings, DEFAULT_TRANSPORT_SETTINGS, type TransportSettings } from './transport-settings.js';

export type { TransportAuth, TransportClientAuth, TransportServerAuth } from './handshake.js';
export type { Incoming, MessageHandler, StreamCallback } from './incoming.js';
export { type SendOptions, Stream } from './stream.js';
export { DEFAULT_TRANSPORT_SETTINGS, type TransportSettings } from './transport-settings.js';

export interface TransportOptions {
  /** For logs and errors. */
  name?: string;
  /** Application protocol version; the peer must send the same. */
  version: number | string;
  settings?: Partial<TransportSettings>;
  auth?: TransportAuth;
  /** Handshake deadline. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Errors no caller is waiting for (a handler that threw, a malformed frame, the peer dying). */
  onError?: (err: TributaryError) => void;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

export interface RequestOptions extends SendOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** When every id is in use: wait for one (default) or fail with TRIB_STREAMS_EXHAUSTED. */
  onExhausted?: 'wait' | 'fail';
}
export type StreamOptions = RequestOptions;

interface Registered {
  type: MessageType<unknown> | undefined;
  handler: MessageHandler<unknown> | undefined;
}

export interface TransportStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  flushes: number;
  requestsPending: number;
  streamsOpen: number;
  idsInUse: number;
  malformedFrames: number;
  handlerErrors: number;
  unhandled: number;
  heartbeatsIn: number;
  heartbeatsOut: number;
  senderWaits: number;
  /** Connections closed because the peer opened a stream past `maxStreams` or outside its id range. */
  streamLimitViolations: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * A multiplexed transport over one Connection, in the manner of gofast. Create it, `subscribe`
 * the message types, call `handshake()`, then post/request/stream from either side.
 */
export class Transport extends EventEmitter {
  readonly name: string;
  readonly version: string;
  readonly settings: Readonly<TransportSettings>;
  readonly connection: Connection;
  /** The user the peer authenticated as (server side with auth). */
  peerUser: string | undefined;
  /** The peer's hello, once received. */
  peer: { name: string; version: string; settings: PeerHello['settings'] } | undefined;

  readonly #log: Logger;
  readonly #counters: TransportCounters;
  /** pino levels are set at start-up; checking once keeps the per-frame path free of it. */
  readonly #trace: boolean;
  readonly #onError: ((err: TributaryError) => void) | undefined;
  readonly #handshakeTimeoutMs: number;
  readonly #types = new Map<number, Registered>();
  #default: ((message: BinMessage, incoming: Incoming) => StreamCallback | undefined | void) | undefined;
  readonly #decoder: TransportFrameDecoder;
  #ids: OpaquePool;
  readonly #calls: CallTable;
  readonly #streams: StreamTable;
  readonly #flusher: Flusher;
  readonly #heartbeats: Heartbeats;
  readonly #hs: Handshake;
  readonly #postIncoming: IncomingCall;
  /** Where handlers' replies to the peer's requests go. */
  readonly #answers: AnswerSink;
  /** The peer's announced id range: every request/stream id it sends must be in it. */
  #peerIdStart = 1;
  #peerIdEnd = 1;

  // Lifecycle.
  #state: 'new' | 'handshaking' | 'ready' | 'closed' = 'new';
  #handshake: Promise<void> | undefined;
  #handshakeResolve: (() => void) | undefined;
  #handshakeReject: ((e: unknown) => void) | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #error: TributaryError | undefined;
  readonly #closedPromise: Promise<TributaryError | undefined>;
  #closedResolve!: (e: TributaryError | undefined) => void;
  #paused = false;

  constructor(connection: Connection, options: TransportOptions) {
    super();
    this.connection = connection;
    this.name = options.name ?? 'transport';
    if (!isValidVersion(options.version))
      throw ErrInvalidArgument('version', 'a safe non-negative integer or a string of 1..256 characters');
    this.version = String(options.version);
    const settings: TransportSettings = { ...DEFAULT_TRANSPORT_SETTINGS, ...options.settings };
    checkSettings(settings);
    this.settings = Object.freeze(settings);
    this.#onError = options.onError;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.#log = componentLogger(options.logger, 'transport', { transport: this.name });
    this.#trace = this.#log.isLevelEnabled('trace');
    this.#counters = new TransportCounters((options.metrics ?? createMetrics()).group('transport'));
    this.#decoder = new TransportFrameDecoder({ maxFrameBytes: settings.maxFrameBytes });
    this.#ids = new OpaquePool(settings.opaqueStart, settings.opaqueEnd, settings.maxWaiters);

    const closedError = () =>
      this.#state === 'closed' ? (this.#error ?? ErrTransportClosed(this.name)) : undefined;
    this.#flusher = new Flusher({
      connection,
      settings: this.settings,
      counters: this.#counters,
      log: this.#log,
      trace: this.#trace,
      closedError,
    });
    const send = this.#flusher.send.bind(this.#flusher);
    const sendNoWait = this.#flusher.sendNoWait.bind(this.#flusher);
    const ids = () => this.#ids;
    const isClosed = () => this.#state === 'closed';
    const decode = (messageId: number, payload: Buffer) => this.#decode(messageId, payload);
    this.#calls = new CallTable(
      { counters: this.#counters, ids, isClosed, send, decode },
      settings.maxStreams,
    );
    this.#streams = new StreamTable(
      {
        ids,
        isClosed,
        send,
        sendNoWait,
        decode,
        callbackError: (e) => this.#handlerError(e, 'stream callback'),
        unhandled: () => this.#counters.count('unhandled'),
      },
      settings.maxStreams,
    );
    this.#heartbeats = new Heartbeats(
      {
        log: this.#log,
        counters: this.#counters,
        beat: () => this.#flusher.writeFrame(FrameKind.Heartbeat, 0, 0, 0, EMPTY, true),
        dead: (err) => {
          this.#reportError(err);
          this.#fail(err);
        },
        isClosed,
        peerName: () => this.peer?.name,
      },
      settings.heartbeatMs,
      settings.deadAfterHeartbeats,
    );
    this.#hs = new Handshake(
      {
        name: this.name,
        connection,
        settings: this.settings,
        handshaking: () => this.#state === 'handshaking',
        isClosed,
        writeNow: (kind, messageId, payload) =>
          this.#flusher.writeFrame(kind, 0, messageId, 0, payload, true),
        fail: (err, graceful) => this.#fail(err, graceful),
        peerHello: (hello) => this.#onPeerHello(hello),
        ready: () => this.#onReady(),
      },
      options.version,
      options.auth,
    );
    const calls = this.#calls;
    this.#answers = { answered: (opaque) => calls.answered(opaque), sendNoWait };
    this.#postIncoming = new IncomingCall(this.#answers, 'post', 0, 0, undefined);
    this.#closedPromise = new Promise((r) => {
      this.#closedResolve = r;
    });
    // Reading starts in handshake(): until then the peer's bytes (its hello) wait in the socket.
    connection.on('error', (err: Error) =>
      this.#fail(ErrTransportConnectionLost(this.name, err.message, { cause: err })),
    );
    connection.on('close', () => this.#fail(ErrTransportConnectionLost(this.name, 'connection closed')));
    connection.on('end', () => {
      // Peer half-closed: nothing more will arrive.
      this.#fail(ErrTransportConnectionLost(this.name, 'peer ended the connection'));
    });
  }

  /** Resolves with the error that closed the transport (undefined after a clean close()). */
  get closed(): Promise<TributaryError | undefined> {
    return this.#closedPromise;
  }
  get isClosed(): boolean {
    return this.#state === 'closed';
  }
  get isReady(): boolean {
    return this.#state === 'ready';
  }
  /** True when a post would not have to wait. */
  get writable(): boolean {
    return this.#flusher.writable;
  }

  /**
   * Registers a message type and, optionally, the handler for it. Both ends register the types
   * they send or receive (a type with no handler can be a reply or a stream message).
   */
  subscribe<T>(type: MessageType<T>, handler?: MessageHandler<T>): this {
    checkMessageType(type as MessageType<unknown>);
    const prev = this.#types.get(type.id);
    if (prev?.type && prev.type !== (type as MessageType<unknown>))
      throw ErrInvalidArgument(
        'type',
        `message id ${type.id} is already registered as ${prev.type.name ?? 'another type'}`,
      );
    this.#types.set(type.id, {
      type: type as MessageType<unknown>,
      handler: handler as MessageHandler<unknown> | undefined,
    });
    return this;
  }

  /** Catch-all for message ids with no handler. Same rule: must not block. */
  defaultHandler(
    handler: (message: BinMessage, incoming: Incoming) => StreamCallback | undefined | void,
  ): this {
    this.#default = handler;
    return this;
  }

  // ---------------------------------------------------------------------------------------
  // Handshake (handshake.ts holds the steps)

  handshake(): Promise<void> {
    if (this.#handshake) return this.#handshake;
    if (this.#state === 'closed') return Promise.reject(this.#error ?? ErrTransportClosed(this.name));
    this.#state = 'handshaking';
    this.connection.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#handshake = new Promise<void>((resolve, reject) => {
      this.#handshakeResolve = resolve;
      this.#handshakeReject = reject;
    });
    this.#handshake.catch(() => {});
    this.#handshakeTimer = setTimeout(
      () =>
        this.#fail(
          ErrTransportHandshakeFailed(`no handshake from the peer within ${this.#handshakeTimeoutMs} ms`),
        ),
      this.#handshakeTimeoutMs,
    );
    this.#hs.sendHello();
    return this.#handshake;
  }

  #onPeerHello(hello: PeerHello): void {
    const ps = hello.settings;
    this.peer = { name: String(hello.name), version: String(hello.version), settings: ps };
    this.#flusher.peerMaxFrame = ps.maxFrameBytes;
    this.#peerIdStart = ps.opaqueStart;
    this.#peerIdEnd = ps.opaqueEnd;
    // Never have more ids in use than the peer accepts streams: it closes the connection past its
    // maxStreams. No id is taken before 'ready', so the pool can still be replaced.
    const s = this.settings;
    if (ps.maxStreams !== undefined && ps.maxStreams < s.opaqueEnd - s.opaqueStart)
      this.#ids = new OpaquePool(s.opaqueStart, s.opaqueStart + ps.maxStreams, s.maxWaiters);
  }

  #onReady(): void {
    this.#state = 'ready';
    this.peerUser = this.#hs.peerUser;
    clearTimeout(this.#handshakeTimer);
    this.#heartbeats.start(this.peer?.settings.heartbeatMs ?? 0);
    this.#log.debug({ peer: this.peer?.name, user: this.peerUser }, 'transport ready');
    this.#handshakeResolve?.();
  }

  // ---------------------------------------------------------------------------------------
  // Sending (flusher.ts batches and applies back-pressure)

  /** Sends a message with no reply. Resolves at once unless the outgoing queue is full. */
  post<T>(type: MessageType<T>, message: T, options?: SendOptions): Promise<void> {
    if (this.#state !== 'ready') return Promise.reject(this.#notReady('post'));
    return this.#flusher.send(FrameKind.Post, 0, type.id, 0, type.encode(message), options?.flush === true);
  }

  /** Sends a request and resolves with the peer's single reply (decoded by its registered type). */
  async request<R = unknown, T = unknown>(
    type: MessageType<T>,
    message: T,
    options: RequestOptions = {},
  ): Promise<R> {
    if (this.#state !== 'ready') throw this.#notReady('request');
    const { signal } = options;
    if (signal?.aborted) throw ErrAborted('request', { cause: signal.reason });
    const payload = type.encode(message);
    const got = this.#ids.acquire(options.onExhausted !== 'fail', signal);
    const id = typeof got === 'number' ? got : await got;
    if (this.#state !== 'ready') {
      this.#ids.release(id);
      throw this.#notReady('request');
    }
    const timeoutMs = options.timeoutMs ?? this.settings.requestTimeoutMs;
    return this.#calls.call<R>(id, type.id, payload, timeoutMs, signal, options.flush === true);
  }

  /**
   * Opens a stream with a first message. `onMessage` gets every message the peer sends on it, then
   * `(undefined, true)` when the peer closes. Close your side with `stream.close()`.
   */
  async stream<T>(
    type: MessageType<T>,
    message: T,
    onMessage: StreamCallback,
    options: StreamOptions = {},
  ): Promise<Stream> {
    if (this.#state !== 'ready') throw this.#notReady('stream');
    const { signal } = options;
    if (signal?.aborted) throw ErrAborted('stream', { cause: signal.reason });
    const payload = type.encode(message);
    const got = this.#ids.acquire(options.onExhausted !== 'fail', signal);
    const id = typeof got === 'number' ? got : await got;
    if (this.#state !== 'ready') {
      this.#ids.release(id);
      throw this.#notReady('stream');
    }
    const s = this.#streams.opened(id, onMessage);
    try {
      await this.#flusher.send(
        FrameKind.StreamOpen,
        FrameFlag.Initiator,
        type.id,
        id,
        payload,
        options.flush === true,
      );
    } catch (err) {
      this.#streams.openFailed(s);
      throw err;
    }
    return s;
  }

  /** Writes the current batch now. */
  flush(): void {
    this.#flusher.flush();
  }

  /**
   * @internal Writes `frames` complete frames held in `bytes` as they are (no copy; the caller
   * must not change them until the peer has them). Posts only, once ready; false when not ready.
   */
  _writeFrames(bytes: Buffer, frames: number): boolean {
    if (this.#state !== 'ready') return false;
    this.#flusher.writeFrames(bytes, frames);
    return true;
  }

  /** @internal The largest payload the peer accepts. */
  get _peerMaxFrame(): number {
    return this.#flusher.peerMaxFrame;
  }

  #notReady(what: string): TributaryError {
    if (this.#state === 'closed') return this.#error ?? ErrTransportClosed(this.name);
    return ErrTransportNotReady(what);
  }

  // ---------------------------------------------------------------------------------------
  // Receiving

  /** Stop reading from the connection (a consumer is behind). Peer death is not judged while paused. */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#heartbeats.paused = true;
    this.connection.pause();
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#heartbeats.paused = false;
    this.#heartbeats.heard();
    this.connection.resume();
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    this.#heartbeats.heard();
    this.#counters.count('bytesIn', chunk.length);
    try {
      this.#decoder.feed(chunk, this.#onFrame);
      this.#counters.syncFrames();
    } catch (err) {
      this.#counters.syncFrames();
      if (this.isClosed) return;
      const e = isTributaryError(err)
        ? err
        : ErrTransportProtocol(String((err as Error)?.message ?? err), { cause: err });
      if (isStreamLimitViolation(e)) {
        // Well-formed frames past a limit: tell the peer why (it may be a misconfigured honest
        // one), then close this connection only.
        this.#counters.count('streamLimitViolations');
        this.#log.warn(
          { err: e, peer: this.connection.remoteAddress, streamsOpen: this.#streams.peerOpen },
          'peer broke its stream limits, closing the connection',
        );
        this.#reportError(e);
        this.#flusher.writeFrame(FrameKind.Error, 0, 0, 0, errorPayload(e), true);
        this.#fail(e, true);
      } else if (isPeerViolation(e)) {
        this.#counters.count('malformedFrames');
        this.#log.error(
          { err: e, peer: this.connection.remoteAddress },
          'malformed frame, closing the connection',
        );
        this.#reportError(e);
        this.#fail(e);
      } else {
        // Never reached: #onFrame catches handler errors itself.
        this.#reportError(e);
      }
    }
  }

  #decode(messageId: number, payload: Buffer): unknown {
    const reg = this.#types.get(messageId);
    if (reg?.type) return reg.type.decode(payload);
    return { id: messageId, data: payload } satisfies BinMessage;
  }

  #onFrame: TransportFrameHandler = (kind, flags, messageId, opaque, payload) => {
    this.#counters.n.framesIn++; // reported to the shared registry per read chunk
    if (kind === FrameKind.Handshake) {
      this.#hs.onFrame(messageId, payload);
      return;
    }
    if (kind === FrameKind.Error && opaque === 0) {
      const { code, message } = parseErrorPayload(payload);
      this.#fail(new TributaryError(code, `peer ${this.peer?.name ?? ''} closed the connection: ${message}`));
      return;
    }
    if (kind === FrameKind.Heartbeat) {
      this.#counters.count('heartbeatsIn');
      return;
    }
    if (this.#state !== 'ready' || !this.#hs.peerReady)
      throw ErrTransportProtocol(`frame kind ${kind} before the handshake completed`);
    if (this.#trace) this.#log.trace({ kind, messageId, opaque, bytes: payload.length }, 'frame in');
    switch (kind) {
      case FrameKind.Post:
        this.#onPost(messageId, payload);
        return;
      case FrameKind.Request:
        this.#onRequest(messageId, opaque, payload);
        return;
      case FrameKind.Response:
      case FrameKind.Error:
        this.#onResponse(kind, flags, messageId, opaque, payload);
        return;
      case FrameKind.StreamOpen:
        this.#onStreamOpen(flags, messageId, opaque, payload);
        return;
      case FrameKind.StreamData:
      case FrameKind.StreamEnd:
        this.#streams.onFrame(kind, flags, messageId, opaque, payload);
        return;
      default:
        throw ErrTransportProtocol(`unexpected frame kind ${kind}`);
    }
  };

  #handlerError(err: unknown, what: string): void {
    this.#counters.count('handlerErrors');
    const e = isTributaryError(err)
      ? err
      : ErrTransportRemote('TRIB_HANDLER', String((err as Error)?.message ?? err), { cause: err });
    this.#log.error({ err }, `${what} handler threw`);
    this.#reportError(e);
  }

  #reportError(err: TributaryError): void {
    if (this.#onError) {
      try {
        this.#onError(err);
      } catch (e) {
        this.#log.error({ err: e }, 'onError threw');
      }
    }
  }

  #onPost(messageId: number, payload: Buffer): void {
    const reg = this.#types.get(messageId);
    const inc = this.#postIncoming;
    inc.messageId = messageId;
    try {
      if (reg?.handler) {
        reg.handler((reg.type as MessageType<unknown>).decode(payload), inc);
      } else if (this.#default) {
        this.#default({ id: messageId, data: payload }, inc);
      } else {
        this.#counters.count('unhandled');
        this.#reportError(ErrTransportNoHandler(messageId));
      }
    } catch (err) {
      this.#handlerError(err, 'post');
    }
  }

  #checkPeerId(opaque: number, what: string): void {
    if (opaque < this.#peerIdStart || opaque >= this.#peerIdEnd)
      throw ErrTransportStreamIdRange(what, opaque, this.#peerIdStart, this.#peerIdEnd);
  }

  #onRequest(messageId: number, opaque: number, payload: Buffer): void {
    this.#checkPeerId(opaque, 'request');
    this.#calls.acceptPeerRequest(opaque);
    const reg = this.#types.get(messageId);
    const inc = new IncomingCall(this.#answers, 'request', messageId, opaque, undefined);
    try {
      if (reg?.handler) reg.handler((reg.type as MessageType<unknown>).decode(payload), inc);
      else if (this.#default) this.#default({ id: messageId, data: payload }, inc);
      else {
        this.#counters.count('unhandled');
        inc.fail(ErrTransportNoHandler(messageId));
      }
    } catch (err) {
      this.#handlerError(err, 'request');
      inc.fail(err);
    }
  }

  #onResponse(kind: FrameKind, flags: number, messageId: number, opaque: number, payload: Buffer): void {
    if ((flags & FrameFlag.Initiator) !== 0) {
      // An error about a stream the peer opened (it refused our frames) – end it locally.
      if (kind === FrameKind.Error && this.#streams.onError(true, opaque, payload)) return;
      throw ErrTransportProtocol(`response flagged as initiator for id ${opaque}`);
    }
    if (this.#calls.settle(kind, messageId, opaque, payload)) return;
    if (kind === FrameKind.Error && this.#streams.onError(false, opaque, payload)) return;
    throw ErrTransportProtocol(`reply for id ${opaque}, which has no request outstanding`);
  }

  #onStreamOpen(flags: number, messageId: number, opaque: number, payload: Buffer): void {
    if ((flags & FrameFlag.Initiator) !== 0) this.#checkPeerId(opaque, 'stream');
    const s = this.#streams.peerOpened(flags, opaque);
    const reg = this.#types.get(messageId);
    const inc = new IncomingCall(this.#answers, 'stream', messageId, opaque, s);
    let cb: StreamCallback | undefined | void;
    try {
      if (reg?.handler) cb = reg.handler((reg.type as MessageType<unknown>).decode(payload), inc);
      else if (this.#default) cb = this.#default({ id: messageId, data: payload }, inc);
      else {
        this.#counters.count('unhandled');
        this.#streams.refuse(s, ErrTransportNoHandler(messageId));
        return;
      }
    } catch (err) {
      this.#handlerError(err, 'stream');
      this.#streams.refuse(s, err);
      return;
    }
    s.callback = typeof cb === 'function' ? cb : undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Close

  /** Ends the transport. `endGracefully`: let written bytes (an error frame) reach the peer first. */
  #fail(err: TributaryError | undefined, endGracefully = false): void {
    if (this.#state === 'closed') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'closed';
    this.#error = err;
    clearTimeout(this.#handshakeTimer);
    this.#heartbeats.stop();
    const closedErr = err ?? ErrTransportClosed(this.name);
    this.#handshakeReject?.(closedErr);
    this.#calls.failAll(closedErr);
    this.#streams.failAll(closedErr);
    this.#flusher.failWaiters(closedErr);
    this.#ids.failWaiters(closedErr);
    if (err === undefined || endGracefully) {
      if (wasReady && err === undefined)
        this.#flusher.writeFrame(
          FrameKind.Error,
          0,
          0,
          0,
          errorPayload(ErrTransportClosed(this.name)),
          false,
        );
      this.#flusher.flush();
      this.connection.end();
      const t = setTimeout(() => this.connection.destroy(), 2000);
      t.unref();
      this.connection.once('close', () => clearTimeout(t));
    } else {
      this.#log.debug({ err, wasReady }, 'transport closed');
      this.connection.destroy();
    }
    this.#closedResolve(err);
    this.emit('close', err);
  }

  /** Graceful close: flushes what is batched, ends the connection, fails what is pending with TRIB_TRANSPORT_CLOSED. */
  async close(): Promise<void> {
    this.#fail(undefined);
    await this.#closedPromise;
  }

  /** Drops the connection at once (pending work fails with `err`, default TRIB_TRANSPORT_CLOSED). */
  destroy(err?: TributaryError): void {
    this.#fail(err ?? ErrTransportClosed(this.name));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): TransportStats {
    const c = this.#counters.n;
    return {
      framesIn: c.framesIn,
      framesOut: c.framesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      flushes: c.flushes,
      requestsPending: this.#calls.pending,
      streamsOpen: this.#streams.open,
      idsInUse: this.#ids.inUse,
      malformedFrames: c.malformedFrames,
      handlerErrors: c.handlerErrors,
      unhandled: c.unhandled,
      heartbeatsIn: c.heartbeatsIn,
      heartbeatsOut: c.heartbeatsOut,
      senderWaits: c.senderWaits,
      streamLimitViolations: c.streamLimitViolations,
    };
  }
}

/** A transport over `connection`. Register message types, then `await t.handshake()`. */
export function createTransport(connection: Connection, options: TransportOptions): Transport {
  return new Transport(connection, options);
}
