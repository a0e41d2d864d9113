import { EventEmitter } from 'node:events';
import {
  DEFAULT_TRANSPORT_MAX_FRAME_BYTES,
  FrameFlag,
  FrameKind,
  HandshakeStep,
  TRANSPORT_HEADER_BYTES,
  TRANSPORT_MAX_FRAME_LIMIT,
  TransportFrameDecoder,
  writeTransportFrame,
} from '@tributary/codec';
import {
  type AuthProvider,
  type Connection,
  type CredentialSource,
  componentLogger,
  ErrAborted,
  ErrAuthFailed,
  ErrInvalidArgument,
  isTributaryError,
  type Logger,
  TributaryError,
} from '@tributary/core';
import { createMetrics, type MetricsGroup, type MetricsRegistry } from '@tributary/metrics';
import {
  ErrPeerDead,
  ErrStreamClosed,
  ErrTransportClosed,
  ErrTransportConnectionLost,
  ErrTransportHandshakeFailed,
  ErrTransportNoHandler,
  ErrTransportNotReady,
  ErrTransportProtocol,
  ErrTransportQueueFull,
  ErrTransportRemote,
  ErrTransportRequestTimeout,
  ErrTransportStreamIdRange,
  ErrTransportTooManyRequests,
  ErrTransportTooManyStreams,
  isPeerViolation,
  isStreamLimitViolation,
} from './errors.js';
import {
  isValidDeadAfter,
  isValidHeartbeat,
  isValidVersion,
  MAX_DEAD_AFTER_HEARTBEATS,
  MAX_HEARTBEAT_MS,
  MIN_FRAME,
  type PeerHello,
  parsePeerHello,
} from './internal/hello.js';
import { OpaquePool } from './internal/opaque-pool.js';
import { type BinMessage, checkMessageType, type MessageType } from './message-type.js';

export interface TransportSettings {
  /** First stream/request id this side hands out (inclusive, >= 1). Default 1. */
  opaqueStart: number;
  /** End of the id range (exclusive). Default 65 536: 65 535 concurrent requests + streams. */
  opaqueEnd: number;
  /**
   * Streams the peer may have open at once on this connection (announced in the hello; the peer's
   * openers wait or fail with TRIB_STREAMS_EXHAUSTED past it). One more, or an id outside the
   * peer's announced range, is a protocol violation that closes the connection. Default 65 535.
   */
  maxStreams: number;
  /** Largest payload this side accepts; the peer never sends more. Default 1 MiB. */
  maxFrameBytes: number;
  /** Heartbeat interval this side sends at; 0 sends none. Default 1000 ms. */
  heartbeatMs: number;
  /** The peer is dead after this many of ITS heartbeat intervals of silence. Default 3. */
  deadAfterHeartbeats: number;
  /** Payload compression; both ends must name the same. Only 'none' is implemented today. */
  compression: 'none';
  /** Flush the write batch this long after its first frame; 0 = at the end of the current tick. Default 0. */
  flushIntervalMs: number;
  /** Flush as soon as the batch holds this many bytes. Default 64 KiB. */
  maxBatchBytes: number;
  /** Senders wait while the socket holds this many unwritten bytes. Default 4 MiB. */
  maxQueueBytes: number;
  /** Senders allowed to wait on a full queue (or an exhausted id range) before TRIB_TRANSPORT_QUEUE_FULL. Default 65 536. */
  maxWaiters: number;
  /** Default request timeout. Default 30 000 ms; 0 = none. */
  requestTimeoutMs: number;
}

export const DEFAULT_TRANSPORT_SETTINGS: Readonly<TransportSettings> = Object.freeze({
  opaqueStart: 1,
  opaqueEnd: 65_536,
  maxStreams: 65_535,
  maxFrameBytes: DEFAULT_TRANSPORT_MAX_FRAME_BYTES,
  heartbeatMs: 1000,
  deadAfterHeartbeats: 3,
  compression: 'none',
  flushIntervalMs: 0,
  maxBatchBytes: 64 * 1024,
  maxQueueBytes: 4 * 1024 * 1024,
  maxWaiters: 65_536,
  requestTimeoutMs: 30_000,
});

/** The dialing side proves who it is. */
export interface TransportClientAuth {
  role: 'client';
  provider: AuthProvider;
  username: string;
  password: string;
  /** Default: the first of the provider's mechanisms the peer offers. */
  mechanism?: string;
}
/** The accepting side checks credentials; the peer must authenticate. */
export interface TransportServerAuth {
  role: 'server';
  provider: AuthProvider;
  credentials: CredentialSource;
}
export type TransportAuth = TransportClientAuth | TransportServerAuth;

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

/** Called for every message on a stream; `ended` true (message undefined) once the peer closed or the transport failed. */
export type StreamCallback<T = unknown> = (
  message: T | undefined,
  ended: boolean,
  error?: TributaryError,
) => void;

export interface Incoming {
  readonly kind: 'post' | 'request' | 'stream';
  readonly messageId: number;
  /** Request only: send the single reply (at most once; may be later, from another tick). */
  reply<R>(type: MessageType<R>, message: R): void;
  /** Request only: answer with an error instead (the requester's promise rejects with TRIB_TRANSPORT_REMOTE_ERROR). */
  fail(err: unknown): void;
  /** Stream only: this side's end of the new stream. */
  readonly stream: Stream | undefined;
}

/**
 * Handles one incoming message. MUST NOT block: return quickly and do slow work elsewhere.
 * For a stream open, return the callback for the stream's further messages.
 */
export type MessageHandler<T> = (message: T, incoming: Incoming) => StreamCallback | undefined | void;

export interface SendOptions {
  /** Write the batch now instead of at the next flush. */
  flush?: boolean;
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

interface PendingRequest {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
  abandoned: boolean;
}

interface Waiting {
  kind: FrameKind;
  flags: number;
  messageId: number;
  opaque: number;
  payload: Uint8Array;
  flush: boolean;
  resolve(): void;
  reject(e: unknown): void;
}

const COUNTERS = [
  'framesIn',
  'framesOut',
  'bytesIn',
  'bytesOut',
  'flushes',
  'malformedFrames',
  'handlerErrors',
  'unhandled',
  'heartbeatsIn',
  'heartbeatsOut',
  'senderWaits',
  'peerDead',
  'requestTimeouts',
  'streamLimitViolations',
] as const;
type CounterName = (typeof COUNTERS)[number];

/** Each count's metric name (`tributary_transport_<name>_total`) and HELP; stats() keeps the keys above. */
const METRICS: Record<CounterName, [string, string]> = {
  framesIn: ['frames_received', 'Frames received'],
  framesOut: ['frames_sent', 'Frames sent'],
  bytesIn: ['received_bytes', 'Bytes received'],
  bytesOut: ['sent_bytes', 'Bytes sent'],
  flushes: ['flushes', 'Batched writes flushed to the socket'],
  malformedFrames: ['malformed_frames', 'Malformed frames (each closed its connection)'],
  handlerErrors: ['handler_errors', 'Handlers that threw or rejected'],
  unhandled: ['unhandled', 'Messages no handler was registered for'],
  heartbeatsIn: ['heartbeats_received', 'Heartbeats received'],
  heartbeatsOut: ['heartbeats_sent', 'Heartbeats sent'],
  senderWaits: ['sender_waits', 'Sends that waited for the socket to drain'],
  peerDead: ['peer_dead', 'Connections closed because the peer stopped answering heartbeats'],
  requestTimeouts: ['request_timeouts', 'Requests that timed out'],
  streamLimitViolations: ['stream_limit_violations', 'Peers that opened more streams than allowed'],
};

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = Buffer.alloc(0);
/** How long an id whose request timed out stays reserved waiting for the late reply. */
const QUARANTINE_MS = 60_000;

function toBytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

function checkSettings(s: TransportSettings): void {
  const bad = (name: string, why: string) => ErrInvalidArgument(`settings.${name}`, why);
  if (!Number.isInteger(s.opaqueStart) || s.opaqueStart < 1) throw bad('opaqueStart', 'an integer >= 1');
  if (!Number.isInteger(s.opaqueEnd) || s.opaqueEnd <= s.opaqueStart || s.opaqueEnd > 0x100000000)
    throw bad('opaqueEnd', 'an integer > opaqueStart and <= 2^32');
  if (!Number.isInteger(s.maxStreams) || s.maxStreams < 1 || s.maxStreams > 0xffffffff)
    throw bad('maxStreams', 'an integer in 1..2^32-1');
  if (
    !Number.isInteger(s.maxFrameBytes) ||
    s.maxFrameBytes < MIN_FRAME ||
    s.maxFrameBytes > TRANSPORT_MAX_FRAME_LIMIT
  )
    throw bad('maxFrameBytes', `${MIN_FRAME}..${TRANSPORT_MAX_FRAME_LIMIT}`);
  if (!isValidHeartbeat(s.heartbeatMs)) throw bad('heartbeatMs', `an integer in 0..${MAX_HEARTBEAT_MS}`);
  if (!isValidDeadAfter(s.deadAfterHeartbeats))
    throw bad('deadAfterHeartbeats', `an integer in 1..${MAX_DEAD_AFTER_HEARTBEATS}`);
  if (s.compression !== 'none') throw bad('compression', "only 'none' is implemented");
  if (!(s.flushIntervalMs >= 0)) throw bad('flushIntervalMs', '>= 0');
  if (!(s.maxBatchBytes >= 256)) throw bad('maxBatchBytes', '>= 256');
  if (!(s.maxQueueBytes >= s.maxBatchBytes)) throw bad('maxQueueBytes', '>= maxBatchBytes');
  if (!(s.maxWaiters >= 1)) throw bad('maxWaiters', '>= 1');
  if (!(s.requestTimeoutMs >= 0)) throw bad('requestTimeoutMs', '>= 0');
}

function errorPayload(err: unknown): Buffer {
  const e = err as { code?: string; message?: string };
  const code =
    typeof e?.code === 'string' && /^TRIB_[A-Z0-9_]+$/.test(e.code) ? e.code : 'TRIB_TRANSPORT_REMOTE_ERROR';
  return toBytes(JSON.stringify({ code, message: String(e?.message ?? err) }));
}

function parseErrorPayload(p: Buffer): { code: string; message: string } {
  try {
    const v = JSON.parse(p.toString('utf8')) as { code?: unknown; message?: unknown };
    const code =
      typeof v.code === 'string' && /^TRIB_[A-Z0-9_]+$/.test(v.code) ? v.code : 'TRIB_TRANSPORT_REMOTE_ERROR';
    return { code, message: String(v.message ?? '') };
  } catch {
    return { code: 'TRIB_TRANSPORT_REMOTE_ERROR', message: p.toString('utf8', 0, 200) };
  }
}

/**
 * One end of a stream. Either side may `send` many messages and either may `close`; the id goes
 * back to its range once both sides closed.
 */
export class Stream {
  readonly id: number;
  /** True on the side that called transport.stream(). */
  readonly initiator: boolean;
  #t: Transport;
  /** @internal */ callback: StreamCallback | undefined;
  /** @internal */ localClosed = false;
  /** @internal */ remoteClosed = false;

  /** @internal */
  constructor(t: Transport, id: number, initiator: boolean, callback: StreamCallback | undefined) {
    this.#t = t;
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
    return this.#t._send(
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
    this.#t._closeStream(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

class IncomingCall implements Incoming {
  kind: 'post' | 'request' | 'stream';
  messageId: number;
  stream: Stream | undefined;
  #t: Transport;
  #opaque: number;
  #done = false;
  constructor(
    t: Transport,
    kind: 'post' | 'request' | 'stream',
    messageId: number,
    opaque: number,
    stream: Stream | undefined,
  ) {
    this.#t = t;
    this.kind = kind;
    this.messageId = messageId;
    this.#opaque = opaque;
    this.stream = stream;
  }
  reply<R>(type: MessageType<R>, message: R): void {
    if (this.kind !== 'request') throw ErrInvalidArgument('incoming', `reply() on a ${this.kind}`);
    if (this.#done) throw ErrInvalidArgument('incoming', 'replied twice');
    this.#done = true;
    this.#t._answered(this.#opaque);
    this.#t._sendNoWait(FrameKind.Response, 0, type.id, this.#opaque, type.encode(message), false);
  }
  fail(err: unknown): void {
    if (this.kind !== 'request') throw ErrInvalidArgument('incoming', `fail() on a ${this.kind}`);
    if (this.#done) return;
    this.#done = true;
    this.#t._answered(this.#opaque);
    this.#t._sendNoWait(FrameKind.Error, 0, 0, this.#opaque, errorPayload(err), false);
  }
  get answered(): boolean {
    return this.#done;
  }
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

  #log: Logger;
  #m: MetricsGroup;
  /** Shared with every transport reporting to the same registry (bounded: no per-connection groups). */
  #c: Record<CounterName, { inc(n?: number): void; value: number }>;
  /** This transport's own counts, for stats(). */
  #n: Record<CounterName, number>;
  #syncedIn = 0;
  #syncedOut = 0;
  /** pino levels are set at start-up; checking once keeps the per-frame path free of it. */
  #trace: boolean;
  #auth: TransportAuth | undefined;
  #onError: ((err: TributaryError) => void) | undefined;
  #handshakeTimeoutMs: number;
  #types = new Map<number, Registered>();
  #default: ((message: BinMessage, incoming: Incoming) => StreamCallback | undefined | void) | undefined;
  #decoder: TransportFrameDecoder;
  #ids: OpaquePool;
  #requests = new Map<number, PendingRequest>();
  #myStreams = new Map<number, Stream>();
  #peerStreams = new Map<number, Stream>();
  /** Ids of the peer's requests not answered yet. */
  readonly #peerRequests = new Set<number>();
  #postIncoming: IncomingCall;

  // Write side.
  #batch: Buffer;
  #batchLen = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;
  #waiting: Waiting[] = [];
  #drainHooked = false;
  #peerMaxFrame = DEFAULT_TRANSPORT_MAX_FRAME_BYTES;
  /** The peer's announced id range: every request/stream id it sends must be in it. */
  #peerIdStart = 1;
  #peerIdEnd = 1;

  // Lifecycle.
  #state: 'new' | 'handshaking' | 'ready' | 'closed' = 'new';
  #peerReady = false;
  #localReady = false;
  #handshake: Promise<void> | undefined;
  #handshakeResolve: (() => void) | undefined;
  #handshakeReject: ((e: unknown) => void) | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #error: TributaryError | undefined;
  #closedPromise: Promise<TributaryError | undefined>;
  #closedResolve!: (e: TributaryError | undefined) => void;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #lastHeard = Date.now();
  #paused = false;
  #saslClient: ReturnType<AuthProvider['createClient']> | undefined;
  #saslServer: ReturnType<AuthProvider['createServer']> | undefined;
  /** The version as configured: the hello carries its JSON type too. */
  #wireVersion: number | string;

  constructor(connection: Connection, options: TransportOptions) {
    super();
    this.connection = connection;
    this.name = options.name ?? 'transport';
    if (!isValidVersion(options.version))
      throw ErrInvalidArgument('version', 'a safe non-negative integer or a string of 1..256 characters');
    this.#wireVersion = options.version;
    this.version = String(options.version);
    const settings: TransportSettings = { ...DEFAULT_TRANSPORT_SETTINGS, ...options.settings };
    checkSettings(settings);
    this.settings = Object.freeze(settings);
    this.#auth = options.auth;
    this.#onError = options.onError;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.#log = componentLogger(options.logger, 'transport', { transport: this.name });
    this.#trace = this.#log.isLevelEnabled('trace');
    this.#m = (options.metrics ?? createMetrics()).group('transport');

    this.#c = {} as Record<CounterName, { inc(n?: number): void; value: number }>;
    this.#n = {} as Record<CounterName, number>;
    for (const n of COUNTERS) {
      this.#c[n] = this.#m.counter(METRICS[n][0], METRICS[n][1]);
      this.#n[n] = 0;
    }
    this.#decoder = new TransportFrameDecoder({ maxFrameBytes: settings.maxFrameBytes });
    this.#ids = new OpaquePool(settings.opaqueStart, settings.opaqueEnd, settings.maxWaiters);
    this.#batch = Buffer.allocUnsafe(settings.maxBatchBytes);
    this.#postIncoming = new IncomingCall(this, 'post', 0, 0, undefined);
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
    return this.#waiting.length === 0 && this.connection.writableLength < this.settings.maxQueueBytes;
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
  // Handshake

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
    const s = this.settings;
    const hello: PeerHello = {
      name: this.name,
      version: this.#wireVersion,
      settings: {
        opaqueStart: s.opaqueStart,
        opaqueEnd: s.opaqueEnd,
        maxStreams: s.maxStreams,
        maxFrameBytes: s.maxFrameBytes,
        heartbeatMs: s.heartbeatMs,
        deadAfterHeartbeats: s.deadAfterHeartbeats,
        compression: s.compression,
      },
    };
    if (this.#auth?.role === 'server')
      hello.auth = { server: { mechanisms: [...this.#auth.provider.mechanisms] } };
    else if (this.#auth?.role === 'client') hello.auth = { client: true };
    this.#sendHandshake(HandshakeStep.Hello, toBytes(JSON.stringify(hello)));
    return this.#handshake;
  }

  #sendHandshake(step: number, payload: Uint8Array): void {
    this.#writeFrame(FrameKind.Handshake, 0, step, 0, payload, true);
  }

  #handshakeFail(err: TributaryError): void {
    // Tell the peer why before closing, so it fails with the same code instead of "connection lost".
    if (this.#state !== 'closed') this.#writeFrame(FrameKind.Error, 0, 0, 0, errorPayload(err), true);
    this.#fail(err, true);
  }

  #onHandshakeFrame(step: number, payload: Buffer): void {
    if (this.#state !== 'handshaking') {
      this.#protocolError(`handshake frame (step ${step}) outside the handshake`);
      return;
    }
    try {
      switch (step) {
        case HandshakeStep.Hello:
          this.#onHello(payload);
          return;
        case HandshakeStep.AuthStart:
        case HandshakeStep.AuthResponse:
          this.#onAuthFromClient(step, payload);
          return;
        case HandshakeStep.AuthChallenge:
        case HandshakeStep.AuthDone:
          this.#onAuthFromServer(step, payload);
          return;
        case HandshakeStep.Ready:
          if (!this.peer) throw ErrTransportProtocol('ready before hello');
          this.#peerReady = true;
          this.#maybeReady();
          return;
        default:
          throw ErrTransportProtocol(`unknown handshake step ${step}`);
      }
    } catch (err) {
      this.#handshakeFail(
        isTributaryError(err)
          ? err
          : ErrTransportHandshakeFailed(String((err as Error)?.message ?? err), { cause: err }),
      );
    }
  }

  #onHello(payload: Buffer): void {
    if (this.peer) throw ErrTransportProtocol('second hello');
    const hello = parsePeerHello(payload, {
      version: this.#wireVersion,
      compression: this.settings.compression,
    });
    const ps = hello.settings;
    this.peer = { name: String(hello.name), version: String(hello.version), settings: ps };
    this.#peerMaxFrame = ps.maxFrameBytes;
    this.#peerIdStart = ps.opaqueStart;
    this.#peerIdEnd = ps.opaqueEnd;
    // Never have more ids in use than the peer accepts streams: it closes the connection past its
    // maxStreams. No id is taken before 'ready', so the pool can still be replaced.
    const s = this.settings;
    if (ps.maxStreams !== undefined && ps.maxStreams < s.opaqueEnd - s.opaqueStart)
      this.#ids = new OpaquePool(s.opaqueStart, s.opaqueStart + ps.maxStreams, s.maxWaiters);
    const peerAuth = hello.auth;
    if (this.#auth?.role === 'server') {
      if (!peerAuth?.client)
        throw ErrAuthFailed('the peer did not offer credentials and this side requires them');
      this.#saslServer = this.#auth.provider.createServer({
        credentials: this.#auth.credentials,
        secure: this.connection.secure,
      });
      return; // wait for AuthStart
    }
    if (this.#auth?.role === 'client') {
      const offered = peerAuth?.server?.mechanisms;
      if (!offered) throw ErrAuthFailed('the peer does not authenticate, but this side was configured to');
      const mech = this.#auth.mechanism ?? this.#auth.provider.mechanisms.find((m) => offered.includes(m));
      if (!mech) throw ErrAuthFailed(`no common mechanism (peer offers ${offered.join(' ')})`);
      this.#saslClient = this.#auth.provider.createClient({
        mechanism: mech,
        username: this.#auth.username,
        password: this.#auth.password,
        secure: this.connection.secure,
      });
      const mechBytes = toBytes(mech);
      const initial = this.#saslClient.start();
      const p = Buffer.allocUnsafe(1 + mechBytes.length + initial.length);
      p[0] = mechBytes.length;
      mechBytes.copy(p, 1);
      p.set(initial, 1 + mechBytes.length);
      this.#sendHandshake(HandshakeStep.AuthStart, p);
      return;
    }
    if (peerAuth?.server)
      throw ErrAuthFailed('the peer requires authentication and this side has no credentials');
    this.#sendReady();
  }

  #onAuthFromClient(step: number, payload: Buffer): void {
    const server = this.#saslServer;
    if (!server) throw ErrTransportProtocol('auth message to a side that does not authenticate');
    let p: Promise<import('@tributary/core').SaslServerStep>;
    if (step === HandshakeStep.AuthStart) {
      const n = payload[0] ?? 0;
      if (payload.length < 1 + n) throw ErrTransportProtocol('short auth start');
      p = server.begin(payload.toString('utf8', 1, 1 + n), payload.subarray(1 + n));
    } else {
      p = server.step(payload);
    }
    p.then(
      (res) => {
        if (this.#state !== 'handshaking') return;
        if (!res.done) {
          this.#sendHandshake(HandshakeStep.AuthChallenge, res.challenge);
          return;
        }
        this.peerUser = res.username;
        this.#sendHandshake(HandshakeStep.AuthDone, res.final ?? EMPTY);
        this.#sendReady();
      },
      (err) => {
        this.#handshakeFail(
          isTributaryError(err) ? err : ErrAuthFailed(String((err as Error)?.message ?? err), { cause: err }),
        );
      },
    );
  }

  #onAuthFromServer(step: number, payload: Buffer): void {
    const client = this.#saslClient;
    if (!client) throw ErrTransportProtocol('auth challenge to a side that did not authenticate');
    if (step === HandshakeStep.AuthChallenge) {
      this.#sendHandshake(HandshakeStep.AuthResponse, client.step(payload));
      return;
    }
    client.finish(payload);
    this.#sendReady();
  }

  #sendReady(): void {
    this.#localReady = true;
    this.#sendHandshake(HandshakeStep.Ready, EMPTY);
    this.#maybeReady();
  }

  #maybeReady(): void {
    if (!this.#localReady || !this.#peerReady || this.#state !== 'handshaking') return;
    this.#state = 'ready';
    clearTimeout(this.#handshakeTimer);
    this.#lastHeard = Date.now();
    this.#startHeartbeats();
    this.#log.debug({ peer: this.peer?.name, user: this.peerUser }, 'transport ready');
    this.#handshakeResolve?.();
  }

  // ---------------------------------------------------------------------------------------
  // Heartbeats

  #startHeartbeats(): void {
    const mine = this.settings.heartbeatMs;
    const theirs = this.peer?.settings.heartbeatMs ?? 0;
    const deadMs = theirs > 0 ? theirs * this.settings.deadAfterHeartbeats : 0;
    const tick = Math.min(
      mine > 0 ? mine : Number.POSITIVE_INFINITY,
      deadMs > 0 ? Math.max(10, theirs / 2) : Number.POSITIVE_INFINITY,
    );
    if (!Number.isFinite(tick)) return;
    let nextBeat = Date.now() + mine;
    this.#heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (mine > 0 && now >= nextBeat) {
        nextBeat = now + mine;
        this.#count('heartbeatsOut');
        this.#writeFrame(FrameKind.Heartbeat, 0, 0, 0, EMPTY, true);
      }
      if (deadMs > 0 && !this.#paused && now - this.#lastHeard > deadMs) {
        // Timers run before I/O in the event loop: after a stall of OUR process the peer's bytes may
        // be waiting unread. Judge again after the poll phase has delivered them.
        setImmediate(() => {
          const silent = Date.now() - this.#lastHeard;
          if (this.isClosed || this.#paused || silent <= deadMs) return;
          this.#count('peerDead');
          const err = ErrPeerDead(silent, this.settings.deadAfterHeartbeats);
          this.#log.warn({ err, peer: this.peer?.name }, 'peer declared dead');
          this.#reportError(err);
          this.#fail(err);
        });
      }
    }, tick);
    this.#heartbeatTimer.unref();
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  /** Sends a message with no reply. Resolves at once unless the outgoing queue is full. */
  post<T>(type: MessageType<T>, message: T, options?: SendOptions): Promise<void> {
    if (this.#state !== 'ready') return Promise.reject(this.#notReady('post'));
    return this._send(FrameKind.Post, 0, type.id, 0, type.encode(message), options?.flush === true);
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
    return new Promise<R>((resolve, reject) => {
      const entry: PendingRequest = {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as R);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        timer: undefined,
        abandoned: false,
      };
      const abandon = (err: TributaryError) => {
        if (entry.abandoned) return;
        entry.abandoned = true;
        clearTimeout(entry.timer);
        entry.reject(err);
        // Keep the id reserved so a late reply cannot be taken for a newer request's.
        entry.timer = setTimeout(() => {
          if (this.#requests.get(id) === entry) {
            this.#requests.delete(id);
            this.#ids.release(id);
          }
        }, QUARANTINE_MS);
        entry.timer.unref();
      };
      const onAbort = () => abandon(ErrAborted('request', { cause: signal?.reason }));
      if (timeoutMs > 0)
        entry.timer = setTimeout(() => {
          this.#count('requestTimeouts');
          abandon(ErrTransportRequestTimeout(timeoutMs));
        }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#requests.set(id, entry);
      this._send(FrameKind.Request, FrameFlag.Initiator, type.id, id, payload, options.flush === true).catch(
        (err) => {
          if (this.#requests.get(id) === entry) {
            this.#requests.delete(id);
            clearTimeout(entry.timer);
            if (!entry.abandoned) entry.reject(err);
            if (this.#state !== 'closed') this.#ids.release(id);
          }
        },
      );
    });
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
    const s = new Stream(this, id, true, onMessage);
    this.#myStreams.set(id, s);
    try {
      await this._send(
        FrameKind.StreamOpen,
        FrameFlag.Initiator,
        type.id,
        id,
        payload,
        options.flush === true,
      );
    } catch (err) {
      this.#myStreams.delete(id);
      if (!this.isClosed) this.#ids.release(id);
      throw err;
    }
    return s;
  }

  /** Writes the current batch now. */
  flush(): void {
    this.#flushBatch();
  }

  #notReady(what: string): TributaryError {
    if (this.#state === 'closed') return this.#error ?? ErrTransportClosed(this.name);
    return ErrTransportNotReady(what);
  }

  /** @internal A frame with back-pressure: waits (FIFO) while the queue is full. */
  _send(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(this.#error ?? ErrTransportClosed(this.name));
    if (payload.length > this.#peerMaxFrame)
      return Promise.reject(
        ErrInvalidArgument(
          'message',
          `${payload.length} bytes encoded; the peer accepts at most ${this.#peerMaxFrame}`,
        ),
      );
    if (this.#waiting.length === 0 && this.connection.writableLength < this.settings.maxQueueBytes) {
      this.#writeFrame(kind, flags, messageId, opaque, payload, flush);
      return RESOLVED;
    }
    if (this.#waiting.length >= this.settings.maxWaiters)
      return Promise.reject(ErrTransportQueueFull(this.#waiting.length));
    this.#count('senderWaits');
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ kind, flags, messageId, opaque, payload, flush, resolve, reject });
      this.#hookDrain();
    });
  }

  /** @internal Control frames (replies, stream ends): never wait, bounded by the peer's own requests. */
  _sendNoWait(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): void {
    if (this.#state === 'closed') return;
    if (this.#waiting.length > 0) {
      // Keep order behind waiting senders.
      this.#waiting.push({
        kind,
        flags,
        messageId,
        opaque,
        payload,
        flush,
        resolve: () => {},
        reject: () => {},
      });
      this.#hookDrain();
      return;
    }
    this.#writeFrame(kind, flags, messageId, opaque, payload, flush);
  }

  #hookDrain(): void {
    if (this.#drainHooked) return;
    this.#drainHooked = true;
    // The queue is over maxQueueBytes (> highWaterMark), so a write returned false and 'drain' will come.
    this.#flushBatch();
    this.connection.once('drain', this.#onDrain);
  }

  #onDrain = (): void => {
    this.#drainHooked = false;
    const w = this.#waiting;
    let i = 0;
    while (i < w.length && !this.isClosed && this.connection.writableLength < this.settings.maxQueueBytes) {
      const x = w[i++] as Waiting;
      this.#writeFrame(x.kind, x.flags, x.messageId, x.opaque, x.payload, x.flush);
      x.resolve();
    }
    this.#waiting = i === w.length ? [] : w.slice(i);
    if (this.#waiting.length > 0) this.#hookDrain();
  };

  #writeFrame(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): void {
    const size = TRANSPORT_HEADER_BYTES + payload.length;
    const cap = this.#batch.length;
    if (this.#batchLen + size > cap) this.#flushBatch();
    if (size > cap) {
      const big = Buffer.allocUnsafe(size);
      writeTransportFrame(big, 0, kind, flags, messageId, opaque, payload);
      this.#count('flushes');
      this.#count('bytesOut', size);
      this.connection.write(big);
    } else {
      this.#batchLen = writeTransportFrame(
        this.#batch,
        this.#batchLen,
        kind,
        flags,
        messageId,
        opaque,
        payload,
      );
      if (this.#batchLen === cap) this.#flushBatch();
    }
    this.#n.framesOut++; // reported to the shared registry per flush, not per frame
    if (this.#trace) this.#log.trace({ kind, messageId, opaque, bytes: payload.length }, 'frame out');
    if (flush) this.#flushBatch();
    else if (this.#batchLen > 0) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#flushImmediate !== undefined) return;
    const ms = this.settings.flushIntervalMs;
    if (ms > 0) this.#flushTimer = setTimeout(this.#timedFlush, ms);
    else this.#flushImmediate = setImmediate(this.#timedFlush);
  }

  #timedFlush = (): void => {
    this.#flushTimer = undefined;
    this.#flushImmediate = undefined;
    this.#flushBatch();
  };

  #flushBatch(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#flushImmediate !== undefined) {
      clearImmediate(this.#flushImmediate);
      this.#flushImmediate = undefined;
    }
    const n = this.#batchLen;
    if (n === 0 || this.connection.destroyed) {
      this.#batchLen = 0;
      return;
    }
    let out: Buffer;
    if (n <= 4096) {
      // Small: copy out and keep the big buffer.
      out = Buffer.allocUnsafe(n);
      this.#batch.copy(out, 0, 0, n);
    } else {
      out = this.#batch.subarray(0, n);
      this.#batch = Buffer.allocUnsafe(this.settings.maxBatchBytes);
    }
    this.#batchLen = 0;
    this.#count('flushes');
    this.#count('bytesOut', n);
    this.#syncFrames();
    this.connection.write(out);
  }

  /** @internal */
  _closeStream(s: Stream): void {
    this._sendNoWait(FrameKind.StreamEnd, s.initiator ? FrameFlag.Initiator : 0, 0, s.id, EMPTY, false);
    this.#maybeFreeStream(s);
  }

  #maybeFreeStream(s: Stream): void {
    if (!s.localClosed || !s.remoteClosed) return;
    if (s.initiator) {
      if (this.#myStreams.get(s.id) === s) {
        this.#myStreams.delete(s.id);
        if (this.#state !== 'closed') this.#ids.release(s.id);
      }
    } else if (this.#peerStreams.get(s.id) === s) this.#peerStreams.delete(s.id);
  }

  // ---------------------------------------------------------------------------------------
  // Receiving

  /** Stop reading from the connection (a consumer is behind). Peer death is not judged while paused. */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.connection.pause();
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#lastHeard = Date.now();
    this.connection.resume();
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    this.#lastHeard = Date.now();
    this.#count('bytesIn', chunk.length);
    try {
      this.#decoder.feed(chunk, this.#onFrame);
      this.#syncFrames();
    } catch (err) {
      this.#syncFrames();
      if (this.isClosed) return;
      const e = isTributaryError(err)
        ? err
        : ErrTransportProtocol(String((err as Error)?.message ?? err), { cause: err });
      if (isStreamLimitViolation(e)) {
        // Well-formed frames past a limit: tell the peer why (it may be a misconfigured honest
        // one), then close this connection only.
        this.#count('streamLimitViolations');
        this.#log.warn(
          { err: e, peer: this.connection.remoteAddress, streamsOpen: this.#peerStreams.size },
          'peer broke its stream limits, closing the connection',
        );
        this.#reportError(e);
        this.#writeFrame(FrameKind.Error, 0, 0, 0, errorPayload(e), true);
        this.#fail(e, true);
      } else if (isPeerViolation(e)) {
        this.#count('malformedFrames');
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

  #protocolError(why: string): never {
    throw ErrTransportProtocol(why);
  }

  #decode(messageId: number, payload: Buffer): unknown {
    const reg = this.#types.get(messageId);
    if (reg?.type) return reg.type.decode(payload);
    return { id: messageId, data: payload } satisfies BinMessage;
  }

  #onFrame = (kind: FrameKind, flags: number, messageId: number, opaque: number, payload: Buffer): void => {
    this.#n.framesIn++; // reported to the shared registry per read chunk
    if (kind === FrameKind.Handshake) {
      this.#onHandshakeFrame(messageId, payload);
      return;
    }
    if (kind === FrameKind.Error && opaque === 0) {
      const { code, message } = parseErrorPayload(payload);
      const err = new TributaryError(code, `peer ${this.peer?.name ?? ''} closed the connection: ${message}`);
      this.#fail(err);
      return;
    }
    if (kind === FrameKind.Heartbeat) {
      this.#count('heartbeatsIn');
      return;
    }
    if (this.#state !== 'ready' || !this.#peerReady)
      this.#protocolError(`frame kind ${kind} before the handshake completed`);
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
        this.#onStreamFrame(kind, flags, messageId, opaque, payload);
        return;
      default:
        this.#protocolError(`unexpected frame kind ${kind}`);
    }
  };

  #handlerError(err: unknown, what: string): void {
    this.#count('handlerErrors');
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
        this.#count('unhandled');
        this.#reportError(ErrTransportNoHandler(messageId));
      }
    } catch (err) {
      this.#handlerError(err, 'post');
    }
  }

  /** @internal An incoming request was answered: its id may come again. */
  _answered(opaque: number): void {
    this.#peerRequests.delete(opaque);
  }

  #checkPeerId(opaque: number, what: string): void {
    if (opaque < this.#peerIdStart || opaque >= this.#peerIdEnd)
      throw ErrTransportStreamIdRange(what, opaque, this.#peerIdStart, this.#peerIdEnd);
  }

  #onRequest(messageId: number, opaque: number, payload: Buffer): void {
    this.#checkPeerId(opaque, 'request');
    // The peer takes request ids from a pool of maxStreams and frees one only on our answer: an id
    // reused while unanswered, or more unanswered than that, is a peer flooding the handlers.
    if (this.#peerRequests.has(opaque)) this.#protocolError(`request ${opaque} sent again before its answer`);
    if (this.#peerRequests.size >= this.settings.maxStreams)
      throw ErrTransportTooManyRequests(this.settings.maxStreams);
    this.#peerRequests.add(opaque);
    const reg = this.#types.get(messageId);
    const inc = new IncomingCall(this, 'request', messageId, opaque, undefined);
    try {
      if (reg?.handler) reg.handler((reg.type as MessageType<unknown>).decode(payload), inc);
      else if (this.#default) this.#default({ id: messageId, data: payload }, inc);
      else {
        this.#count('unhandled');
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
      const s = this.#peerStreams.get(opaque);
      if (kind === FrameKind.Error && s) this.#endStreamWithError(s, payload);
      else this.#protocolError(`response flagged as initiator for id ${opaque}`);
      return;
    }
    const req = this.#requests.get(opaque);
    if (req === undefined) {
      const s = this.#myStreams.get(opaque);
      if (kind === FrameKind.Error && s) {
        this.#endStreamWithError(s, payload);
        return;
      }
      this.#protocolError(`reply for id ${opaque}, which has no request outstanding`);
    }
    this.#requests.delete(opaque);
    clearTimeout(req.timer);
    this.#ids.release(opaque);
    if (req.abandoned) return; // late reply after timeout/abort: the id is free again now
    if (kind === FrameKind.Error) {
      const { code, message } = parseErrorPayload(payload);
      req.reject(ErrTransportRemote(code, message, { details: { remoteCode: code } }));
      return;
    }
    try {
      req.resolve(this.#decode(messageId, payload));
    } catch (err) {
      req.reject(err);
    }
  }

  #endStreamWithError(s: Stream, payload: Buffer): void {
    const { code, message } = parseErrorPayload(payload);
    const err = ErrTransportRemote(code, message, { details: { remoteCode: code } });
    s.remoteClosed = true;
    const cb = s.callback;
    if (!s.localClosed) s.close();
    else this.#maybeFreeStream(s);
    if (cb) this.#callStream(cb, undefined, true, err);
  }

  #callStream(cb: StreamCallback, msg: unknown, ended: boolean, err?: TributaryError): void {
    try {
      cb(msg, ended, err);
    } catch (e) {
      this.#handlerError(e, 'stream callback');
    }
  }

  #onStreamOpen(flags: number, messageId: number, opaque: number, payload: Buffer): void {
    if ((flags & FrameFlag.Initiator) === 0) this.#protocolError('stream open without the initiator flag');
    this.#checkPeerId(opaque, 'stream');
    if (this.#peerStreams.has(opaque)) this.#protocolError(`stream ${opaque} opened twice`);
    if (this.#peerStreams.size >= this.settings.maxStreams)
      throw ErrTransportTooManyStreams(this.settings.maxStreams);
    const s = new Stream(this, opaque, false, undefined);
    this.#peerStreams.set(opaque, s);
    const reg = this.#types.get(messageId);
    const inc = new IncomingCall(this, 'stream', messageId, opaque, s);
    let cb: StreamCallback | undefined | void;
    try {
      if (reg?.handler) cb = reg.handler((reg.type as MessageType<unknown>).decode(payload), inc);
      else if (this.#default) cb = this.#default({ id: messageId, data: payload }, inc);
      else {
        this.#count('unhandled');
        this.#refuseStream(s, ErrTransportNoHandler(messageId));
        return;
      }
    } catch (err) {
      this.#handlerError(err, 'stream');
      this.#refuseStream(s, err);
      return;
    }
    s.callback = typeof cb === 'function' ? cb : undefined;
  }

  #refuseStream(s: Stream, err: unknown): void {
    // Tell the opener why, and end our side; the id is freed when its StreamEnd arrives.
    this._sendNoWait(FrameKind.Error, 0, 0, s.id, errorPayload(err), false);
    s.close();
  }

  #onStreamFrame(kind: FrameKind, flags: number, messageId: number, opaque: number, payload: Buffer): void {
    const s =
      (flags & FrameFlag.Initiator) !== 0 ? this.#peerStreams.get(opaque) : this.#myStreams.get(opaque);
    if (s === undefined || s.remoteClosed)
      this.#protocolError(
        `${kind === FrameKind.StreamEnd ? 'end' : 'data'} for stream ${opaque}, which is not open`,
      );
    if (kind === FrameKind.StreamEnd) {
      s.remoteClosed = true;
      this.#maybeFreeStream(s);
      if (s.callback) this.#callStream(s.callback, undefined, true);
      return;
    }
    if (s.callback) this.#callStream(s.callback, this.#decode(messageId, payload), false);
    else this.#count('unhandled');
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
    clearInterval(this.#heartbeatTimer);
    const closedErr = err ?? ErrTransportClosed(this.name);
    this.#handshakeReject?.(closedErr);
    for (const [, r] of this.#requests) {
      clearTimeout(r.timer);
      if (!r.abandoned) r.reject(closedErr);
    }
    this.#requests.clear();
    const streams = [...this.#myStreams.values(), ...this.#peerStreams.values()];
    this.#myStreams.clear();
    this.#peerStreams.clear();
    this.#peerRequests.clear();
    for (const s of streams) {
      const wasOpen = !s.remoteClosed;
      s.localClosed = true;
      s.remoteClosed = true;
      if (wasOpen && s.callback) this.#callStream(s.callback, undefined, true, closedErr);
    }
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.reject(closedErr);
    this.#ids.failWaiters(closedErr);
    if (err === undefined || endGracefully) {
      if (wasReady && err === undefined)
        this.#writeFrame(FrameKind.Error, 0, 0, 0, errorPayload(ErrTransportClosed(this.name)), false);
      this.#flushBatch();
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

  /** Frame counts are kept locally per frame and pushed to the shared registry in bulk. */
  #syncFrames(): void {
    const n = this.#n;
    if (n.framesIn !== this.#syncedIn) {
      this.#c.framesIn.inc(n.framesIn - this.#syncedIn);
      this.#syncedIn = n.framesIn;
    }
    if (n.framesOut !== this.#syncedOut) {
      this.#c.framesOut.inc(n.framesOut - this.#syncedOut);
      this.#syncedOut = n.framesOut;
    }
  }

  #count(k: CounterName, n = 1): void {
    this.#n[k] += n;
    this.#c[k].inc(n);
  }

  stats(): TransportStats {
    const c = this.#n;
    return {
      framesIn: c.framesIn,
      framesOut: c.framesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      flushes: c.flushes,
      requestsPending: this.#requests.size,
      streamsOpen: this.#myStreams.size + this.#peerStreams.size,
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
