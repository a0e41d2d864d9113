// The call table: correlates this side's requests with the peer's replies (by opaque id, with
// timeouts, aborts and the quarantine of a timed-out id), and keeps the ids of the peer's
// requests not answered yet (a peer may not reuse one, nor have more than maxStreams).
import { FrameFlag, FrameKind } from '@tributary/codec';
import { ErrAborted, type TributaryError } from '@tributary/core';
import {
  ErrTransportProtocol,
  ErrTransportRemote,
  ErrTransportRequestTimeout,
  ErrTransportTooManyRequests,
} from './errors.js';
import { parseErrorPayload } from './internal/error-payload.js';
import type { OpaquePool } from './internal/opaque-pool.js';
import type { TransportCounters } from './internal/transport-counters.js';

/** How long an id whose request timed out stays reserved waiting for the late reply. */
const QUARANTINE_MS = 60_000;

interface PendingRequest {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | undefined;
  abandoned: boolean;
}

export interface CallTableHost {
  readonly counters: TransportCounters;
  /** The id pool requests and streams share (replaced once after the peer's hello). */
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
  decode(messageId: number, payload: Buffer): unknown;
}

export class CallTable {
  readonly #h: CallTableHost;
  readonly #requests = new Map<number, PendingRequest>();
  /** Ids of the peer's requests not answered yet. */
  readonly #peerRequests = new Set<number>();
  readonly #maxPeerRequests: number;

  constructor(host: CallTableHost, maxPeerRequests: number) {
    this.#h = host;
    this.#maxPeerRequests = maxPeerRequests;
  }

  get pending(): number {
    return this.#requests.size;
  }

  /** Sends request `id` (already taken from the pool) and resolves with the decoded reply. */
  call<R>(
    id: number,
    messageId: number,
    payload: Uint8Array,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    flush: boolean,
  ): Promise<R> {
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
            this.#h.ids().release(id);
          }
        }, QUARANTINE_MS);
        entry.timer.unref();
      };
      const onAbort = () => abandon(ErrAborted('request', { cause: signal?.reason }));
      if (timeoutMs > 0)
        entry.timer = setTimeout(() => {
          this.#h.counters.count('requestTimeouts');
          abandon(ErrTransportRequestTimeout(timeoutMs));
        }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#requests.set(id, entry);
      this.#h.send(FrameKind.Request, FrameFlag.Initiator, messageId, id, payload, flush).catch((err) => {
        if (this.#requests.get(id) === entry) {
          this.#requests.delete(id);
          clearTimeout(entry.timer);
          if (!entry.abandoned) entry.reject(err);
          if (!this.#h.isClosed()) this.#h.ids().release(id);
        }
      });
    });
  }

  /**
   * A response or error frame for one of this side's requests. Returns false when `opaque` has no
   * request outstanding (it may be an error about a stream: the caller looks there).
   */
  settle(kind: FrameKind, messageId: number, opaque: number, payload: Buffer): boolean {
    const req = this.#requests.get(opaque);
    if (req === undefined) return false;
    this.#requests.delete(opaque);
    clearTimeout(req.timer);
    this.#h.ids().release(opaque);
    if (req.abandoned) return true; // late reply after timeout/abort: the id is free again now
    if (kind === FrameKind.Error) {
      const { code, message } = parseErrorPayload(payload);
      req.reject(ErrTransportRemote(code, message, { details: { remoteCode: code } }));
      return true;
    }
    try {
      req.resolve(this.#h.decode(messageId, payload));
    } catch (err) {
      req.reject(err);
    }
    return true;
  }

  /** The peer sent request `opaque`: refuse an id reused before its answer, or one too many. */
  acceptPeerRequest(opaque: number): void {
    // The peer takes request ids from a pool of maxStreams and frees one only on our answer: an id
    // reused while unanswered, or more unanswered than that, is a peer flooding the handlers.
    if (this.#peerRequests.has(opaque))
      throw ErrTransportProtocol(`request ${opaque} sent again before its answer`);
    if (this.#peerRequests.size >= this.#maxPeerRequests)
      throw ErrTransportTooManyRequests(this.#maxPeerRequests);
    this.#peerRequests.add(opaque);
  }

  /** An incoming request was answered: its id may come again. */
  answered(opaque: number): void {
    this.#peerRequests.delete(opaque);
  }

  /** The transport closed: every pending request rejects with `err`. */
  failAll(err: TributaryError): void {
    for (const [, r] of this.#requests) {
      clearTimeout(r.timer);
      if (!r.abandoned) r.reject(err);
    }
    this.#requests.clear();
    this.#peerRequests.clear();
  }
}
