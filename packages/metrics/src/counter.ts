import type { CounterLike, GaugeLike } from '@tributary/core';

/** A monotonic counter. `inc` is a property add: no allocation, no branching on the hot path. */
export class Counter implements CounterLike {
  value = 0;
  constructor(
    readonly name: string,
    readonly help = '',
  ) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class Gauge implements GaugeLike {
  value = 0;
  constructor(
    readonly name: string,
    readonly help = '',
  ) {}
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}
