/**
 * The reporting surface every component writes to. @tributary/metrics implements it; core only
 * names it so plugins can report without depending on the metrics package.
 */
export interface CounterLike {
  inc(n?: number): void;
  readonly value: number;
}

export interface GaugeLike {
  set(value: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
  readonly value: number;
}

export interface HistogramLike {
  observe(value: number): void;
}

export interface MetricsScope {
  counter(name: string, help?: string): CounterLike;
  gauge(name: string, help?: string): GaugeLike;
  histogram(name: string, help?: string): HistogramLike;
}
