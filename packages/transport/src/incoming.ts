// What a handler gets with each incoming message, and the handler and stream-callback shapes.
import { FrameKind } from '@tributary/codec';
import { ErrInvalidArgument, type TributaryError } from '@tributary/core';
import { errorPayload } from './internal/error-payload.js';
import type { MessageType } from './message-type.js';
import type { Stream } from './stream.js';

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

/** Where an answer to the peer's request goes. */
export interface AnswerSink {
  /** The peer's request `opaque` is answered: its id may come again. */
  answered(opaque: number): void;
  sendNoWait(
    kind: FrameKind,
    flags: number,
    messageId: number,
    opaque: number,
    payload: Uint8Array,
    flush: boolean,
  ): void;
}

export class IncomingCall implements Incoming {
  kind: 'post' | 'request' | 'stream';
  messageId: number;
  stream: Stream | undefined;
  readonly #sink: AnswerSink;
  readonly #opaque: number;
  #done = false;

  constructor(
    sink: AnswerSink,
    kind: 'post' | 'request' | 'stream',
    messageId: number,
    opaque: number,
    stream: Stream | undefined,
  ) {
    this.#sink = sink;
    this.kind = kind;
    this.messageId = messageId;
    this.#opaque = opaque;
    this.stream = stream;
  }

  reply<R>(type: MessageType<R>, message: R): void {
    if (this.kind !== 'request') throw ErrInvalidArgument('incoming', `reply() on a ${this.kind}`);
    if (this.#done) throw ErrInvalidArgument('incoming', 'replied twice');
    this.#done = true;
    this.#sink.answered(this.#opaque);
    this.#sink.sendNoWait(FrameKind.Response, 0, type.id, this.#opaque, type.encode(message), false);
  }

  fail(err: unknown): void {
    if (this.kind !== 'request') throw ErrInvalidArgument('incoming', `fail() on a ${this.kind}`);
    if (this.#done) return;
    this.#done = true;
    this.#sink.answered(this.#opaque);
    this.#sink.sendNoWait(FrameKind.Error, 0, 0, this.#opaque, errorPayload(err), false);
  }

  get answered(): boolean {
    return this.#done;
  }
}
