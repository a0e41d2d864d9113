// Heartbeats and dead-peer detection: this side beats every heartbeatMs of its own; a peer
// silent (no bytes at all) for deadAfterHeartbeats of ITS announced interval is dead. A side
// that stopped reading on purpose (back-pressure) does not judge the peer while paused.
import type { Logger, TributaryError } from '@tributary/core';
import { ErrPeerDead } from './errors.js';
import type { TransportCounters } from './internal/transport-counters.js';

export interface HeartbeatsHost {
  readonly log: Logger;
  readonly counters: TransportCounters;
  /** Writes one heartbeat frame (flushed). */
  beat(): void;
  /** The peer is dead: report and close. */
  dead(err: TributaryError): void;
  isClosed(): boolean;
  peerName(): string | undefined;
}

export class Heartbeats {
  /** When the peer was last heard from (ms). */
  lastHeard = Date.now();
  /** Reading stopped on purpose: silence proves nothing. */
  paused = false;
  readonly #h: HeartbeatsHost;
  readonly #mine: number;
  readonly #deadAfter: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: HeartbeatsHost, heartbeatMs: number, deadAfterHeartbeats: number) {
    this.#h = host;
    this.#mine = heartbeatMs;
    this.#deadAfter = deadAfterHeartbeats;
  }

  heard(): void {
    this.lastHeard = Date.now();
  }

  /** Starts beating and judging, once the peer's interval is known (after the handshake). */
  start(peerHeartbeatMs: number): void {
    const mine = this.#mine;
    const theirs = peerHeartbeatMs;
    const deadMs = theirs > 0 ? theirs * this.#deadAfter : 0;
    const tick = Math.min(
      mine > 0 ? mine : Number.POSITIVE_INFINITY,
      deadMs > 0 ? Math.max(10, theirs / 2) : Number.POSITIVE_INFINITY,
    );
    this.lastHeard = Date.now();
    if (!Number.isFinite(tick)) return;
    let nextBeat = Date.now() + mine;
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (mine > 0 && now >= nextBeat) {
        nextBeat = now + mine;
        this.#h.counters.count('heartbeatsOut');
        this.#h.beat();
      }
      if (deadMs > 0 && !this.paused && now - this.lastHeard > deadMs) {
        // Timers run before I/O in the event loop: after a stall of OUR process the peer's bytes may
        // be waiting unread. Judge again after the poll phase has delivered them.
        setImmediate(() => {
          const silent = Date.now() - this.lastHeard;
          if (this.#h.isClosed() || this.paused || silent <= deadMs) return;
          this.#h.counters.count('peerDead');
          const err = ErrPeerDead(silent, this.#deadAfter);
          this.#h.log.warn({ err, peer: this.#h.peerName() }, 'peer declared dead');
          this.#h.dead(err);
        });
      }
    }, tick);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
