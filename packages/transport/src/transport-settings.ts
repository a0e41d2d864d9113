// The transport's settings: what each side announces or uses, their defaults, and the bounds a
// local configuration must keep (the peer's announced values are checked in internal/hello.ts).
import { DEFAULT_TRANSPORT_MAX_FRAME_BYTES, TRANSPORT_MAX_FRAME_LIMIT } from '@tributary/codec';
import { ErrInvalidArgument } from '@tributary/core';
import {
  isValidDeadAfter,
  isValidHeartbeat,
  MAX_DEAD_AFTER_HEARTBEATS,
  MAX_HEARTBEAT_MS,
  MIN_FRAME,
} from './internal/hello.js';

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

/** Throws TRIB_INVALID_ARGUMENT naming the first setting out of its range. */
export function checkSettings(s: TransportSettings): void {
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
