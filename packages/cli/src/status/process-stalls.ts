import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/**
 * Per tick: the longest event-loop delay and the time spent in GC pauses. A per-second rate of a
 * counter shows a stall of the process (a GC pause, a long synchronous task, a CPU-starved
 * machine) as a dip and then a spike of the same area, the catch-up; these say which stall it was.
 */
export class ProcessStalls {
  readonly #loop = monitorEventLoopDelay({ resolution: 10 });
  readonly #gc: PerformanceObserver;
  #gcMs = 0;

  constructor() {
    this.#loop.enable();
    this.#gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.#gcMs += e.duration;
    });
    this.#gc.observe({ entryTypes: ['gc'] });
  }

  /** Milliseconds since the last call: the longest event-loop delay, and GC pauses summed. */
  take(): { loopMaxMs: number; gcMs: number } {
    const loopMaxMs = this.#loop.count > 0 ? this.#loop.max / 1e6 : 0;
    this.#loop.reset();
    const gcMs = this.#gcMs;
    this.#gcMs = 0;
    return { loopMaxMs, gcMs };
  }

  close(): void {
    this.#loop.disable();
    this.#gc.disconnect();
  }
}
