/** One kind of error the page shows once, with how often and when it last happened. */
export interface ErrorGroup {
  /** The error's code (`TRIB_…`, `ECONNREFUSED`) or '' when it has none. */
  code: string;
  message: string;
  count: number;
  /** Epoch milliseconds. */
  first: number;
  last: number;
}

/**
 * Errors grouped by code and message, so a node that refuses connections every second is one
 * line with a count, not a screenful. Bounded: past `max` kinds the one seen longest ago goes.
 */
export class ErrorLog {
  readonly #groups = new Map<string, ErrorGroup>();
  total = 0;

  constructor(private readonly max = 50) {}

  note(err: unknown, now = Date.now()): ErrorGroup {
    this.total++;
    const e = err as { code?: unknown; message?: unknown } | undefined;
    const code = typeof e?.code === 'string' ? e.code : '';
    const message = typeof e?.message === 'string' ? e.message : String(err);
    const key = `${code}\u0000${message}`;
    let g = this.#groups.get(key);
    if (g) {
      g.count++;
      g.last = now;
      // (most recent last in the map's order, so the first one is the stalest)
      this.#groups.delete(key);
    } else {
      g = { code, message, count: 1, first: now, last: now };
      if (this.#groups.size >= this.max) this.#groups.delete(this.#groups.keys().next().value!);
    }
    this.#groups.set(key, g);
    return g;
  }

  /** Newest first. */
  groups(): ErrorGroup[] {
    return [...this.#groups.values()].reverse().map((g) => ({ ...g }));
  }

  /** Errors whose last occurrence is at or after `since`. */
  recent(since: number): number {
    let n = 0;
    for (const g of this.#groups.values()) if (g.last >= since) n++;
    return n;
  }
}
