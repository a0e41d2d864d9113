import type { Connection } from '@tributary/core';

/** What the pool tracks per connection. */
export interface PooledConnection {
  readonly connection: Connection;
  readonly id: number;
  /** 'idle' in the free list, 'busy' lent out, 'checking' in a health check, 'dead' gone. */
  state: 'idle' | 'busy' | 'checking' | 'dead';
  /** When it was last returned (ms, performance clock). */
  lastUsed: number;
  /** The guard currently holding it (busy only). */
  guard: PoolGuard | undefined;
}

/** @internal what a guard needs from its pool */
export interface GuardOwner {
  returnConnection(entry: PooledConnection, guard: PoolGuard): void;
  destroyConnection(entry: PooledConnection, guard: PoolGuard, reason: string): void;
  warnReuse(entry: PooledConnection, what: 'release' | 'destroy'): void;
}

/**
 * A connection on loan. `release()` gives it back, `destroy()` throws it away (use after a protocol
 * error), and `await using guard = await pool.acquire()` releases it at the end of the block.
 * A second release or destroy is a no-op with a warning: a connection is never returned twice.
 */
export class PoolGuard implements AsyncDisposable {
  readonly #owner: GuardOwner;
  readonly #entry: PooledConnection;
  #done = false;

  constructor(owner: GuardOwner, entry: PooledConnection) {
    this.#owner = owner;
    this.#entry = entry;
  }

  get connection(): Connection {
    return this.#entry.connection;
  }

  /** True once released or destroyed. */
  get done(): boolean {
    return this.#done;
  }

  release(): void {
    if (this.#done) {
      this.#owner.warnReuse(this.#entry, 'release');
      return;
    }
    this.#done = true;
    this.#owner.returnConnection(this.#entry, this);
  }

  destroy(reason = 'destroyed by its user'): void {
    if (this.#done) {
      this.#owner.warnReuse(this.#entry, 'destroy');
      return;
    }
    this.#done = true;
    this.#owner.destroyConnection(this.#entry, this, reason);
  }

  [Symbol.asyncDispose](): Promise<void> {
    if (!this.#done) this.release();
    return Promise.resolve();
  }
}
