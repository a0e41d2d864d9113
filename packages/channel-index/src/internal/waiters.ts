// Waiting readers, indexed by channel. Built for 10,000 waiters woken by one write: a waiter is one
// object (it is its own abort listener and timer argument, no closures per waiter), and waking a
// channel walks that channel's set once, each waiter leaving the sets it is in as it resolves.
import { ErrAborted } from '@tributary/core';

export class Waiter {
  /** Read-only indexes: the batch counter the waiter's own check covered (the poller compares). */
  seen: number | undefined;
  #settled = false;
  /** Where it sits in its timeout lane (to free the slot when it settles first). */
  lane: Lane | undefined;
  laneIndex = 0;
  readonly promise: Promise<boolean>;
  #resolve!: (changed: boolean) => void;
  #reject!: (err: unknown) => void;

  constructor(
    readonly registry: Waiters,
    readonly channels: readonly string[],
    readonly signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ) {
    this.promise = new Promise<boolean>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    registry.add(this);
    signal?.addEventListener('abort', this, { once: true });
    if (timeoutMs !== undefined) registry.expireAfter(this, timeoutMs);
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Resolves the wait (true: something changed; false: timeout or close). */
  wake(changed: boolean): void {
    if (!this.#finish()) return;
    this.#resolve(changed);
  }

  fail(err: unknown): void {
    if (!this.#finish()) return;
    this.#reject(err);
  }

  /** The abort listener (an EventListener object: no closure per waiter). */
  handleEvent(): void {
    this.fail(ErrAborted('waitForChanges', { cause: this.signal?.reason }));
  }

  #finish(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    if (this.lane) this.lane.release(this);
    this.signal?.removeEventListener('abort', this);
    this.registry.remove(this);
    return true;
  }
}

/**
 * Waiters with the same timeout length expire in the order they came: one timer per length for
 * the oldest, instead of a timer per waiter (10,000 longpolls with one timeout are one timer).
 */
class Lane {
  #ws: (Waiter | undefined)[] = [];
  #at: number[] = [];
  #head = 0;
  #offset = 0;
  #live = 0;
  #timer: NodeJS.Timeout | undefined;
  constructor(
    readonly ms: number,
    readonly done: (lane: Lane) => void,
  ) {}

  add(w: Waiter): void {
    w.lane = this;
    w.laneIndex = this.#offset + this.#ws.length;
    this.#ws.push(w);
    this.#at.push(performance.now() + this.ms);
    this.#live++;
    if (!this.#timer) this.#arm(this.ms);
  }

  release(w: Waiter): void {
    const i = w.laneIndex - this.#offset;
    if (this.#ws[i] === w) this.#ws[i] = undefined;
    w.lane = undefined;
    // the last one out stops the timer (nothing keeps the process up for settled waiters)
    if (--this.#live === 0) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.done(this);
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.ceil(ms)));
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#head < this.#ws.length) {
      const w = this.#ws[this.#head];
      if (w && this.#at[this.#head]! > now) break;
      this.#head++;
      w?.wake(false);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#ws.length) {
      this.#ws = this.#ws.slice(this.#head);
      this.#at = this.#at.slice(this.#head);
      this.#offset += this.#head;
      this.#head = 0;
    }
    if (this.#live > 0 && this.#head < this.#ws.length) this.#arm(this.#at[this.#head]! - now);
  }
}

export class Waiters {
  readonly byChannel = new Map<string, Set<Waiter>>();
  count = 0;
  readonly #lanes = new Map<number, Lane>();

  constructor(
    private readonly hooks: {
      /** The count changed (gauges). */
      counted(n: number): void;
      /** The first waiter came (start polling). */
      first(): void;
      /** The last waiter left (stop polling), with the channels nobody waits on any more. */
      empty(): void;
      /** A channel lost its last waiter. */
      channelDone(ch: string): void;
    },
  ) {}

  /** Timeout lanes alive: one per timeout length somebody still waits with. */
  get lanes(): number {
    return this.#lanes.size;
  }

  /** Wakes `w` with false after `ms` unless it settled first. */
  expireAfter(w: Waiter, ms: number): void {
    let lane = this.#lanes.get(ms);
    if (!lane) this.#lanes.set(ms, (lane = new Lane(ms, (l) => this.#lanes.delete(l.ms))));
    lane.add(w);
  }

  add(w: Waiter): void {
    for (const ch of w.channels) {
      let set = this.byChannel.get(ch);
      if (!set) this.byChannel.set(ch, (set = new Set()));
      set.add(w);
    }
    if (++this.count === 1) this.hooks.first();
    this.hooks.counted(this.count);
  }

  remove(w: Waiter): void {
    for (const ch of w.channels) {
      const set = this.byChannel.get(ch);
      if (set?.delete(w) && set.size === 0) {
        this.byChannel.delete(ch);
        this.hooks.channelDone(ch);
      }
    }
    this.hooks.counted(--this.count);
    if (this.count === 0) this.hooks.empty();
  }

  /** Wakes the waiters of `channels` (that `only` accepts); returns how many. */
  wakeChannels(channels: Iterable<string>, changed: boolean, only?: (w: Waiter) => boolean): number {
    let n = 0;
    for (const ch of channels) {
      const set = this.byChannel.get(ch);
      if (!set) continue;
      // (deleting from a Set while iterating it is safe: a woken waiter leaves every set it is in)
      for (const w of set) {
        if (only && !only(w)) continue;
        w.wake(changed);
        n++;
      }
    }
    return n;
  }

  wakeAll(changed: boolean, only?: (w: Waiter) => boolean): number {
    return this.wakeChannels([...this.byChannel.keys()], changed, only);
  }
}
