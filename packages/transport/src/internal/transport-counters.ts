// A transport's counts: its own (for stats()) and the shared `transport` metrics group every
// transport on one registry reports to (one group, not one per connection).
import type { MetricsGroup } from '@tributary/metrics';

export const COUNTERS = [
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
export type CounterName = (typeof COUNTERS)[number];

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

export class TransportCounters {
  /** This transport's own counts. framesIn/framesOut are bumped directly per frame, synced in bulk. */
  readonly n: Record<CounterName, number>;
  readonly #shared: Record<CounterName, { inc(n?: number): void }>;
  #syncedIn = 0;
  #syncedOut = 0;

  constructor(group: MetricsGroup) {
    this.n = {} as Record<CounterName, number>;
    this.#shared = {} as Record<CounterName, { inc(n?: number): void }>;
    for (const k of COUNTERS) {
      this.#shared[k] = group.counter(METRICS[k][0], METRICS[k][1]);
      this.n[k] = 0;
    }
  }

  count(k: CounterName, by = 1): void {
    this.n[k] += by;
    this.#shared[k].inc(by);
  }

  /** Frame counts are kept locally per frame and pushed to the shared registry per read or flush. */
  syncFrames(): void {
    const n = this.n;
    if (n.framesIn !== this.#syncedIn) {
      this.#shared.framesIn.inc(n.framesIn - this.#syncedIn);
      this.#syncedIn = n.framesIn;
    }
    if (n.framesOut !== this.#syncedOut) {
      this.#shared.framesOut.inc(n.framesOut - this.#syncedOut);
      this.#syncedOut = n.framesOut;
    }
  }
}
