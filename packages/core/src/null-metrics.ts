import type { CounterLike, GaugeLike, HistogramLike, MetricsScope } from './contracts/metrics.js';

class NullInstrument implements CounterLike, GaugeLike, HistogramLike {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
  set(v: number): void {
    this.value = v;
  }
  observe(): void {}
}

/** Default MetricsScope when the caller passes none: counts locally, exports nowhere. */
export function nullMetrics(): MetricsScope {
  return {
    counter: () => new NullInstrument(),
    gauge: () => new NullInstrument(),
    histogram: () => new NullInstrument(),
  };
}
