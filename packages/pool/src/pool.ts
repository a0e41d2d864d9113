import { performance } from 'node:perf_hooks';
import {
  backoffLoop,
  type Connection,
  type ConnectionFactory,
  componentLogger,
  type Endpoint,
  ErrAborted,
  ErrInvalidArgument,
  type Logger,
} from '@tributary/core';
import { createMetrics, type MetricsRegistry } from '@tributary/metrics';
import { ErrPoolClosed, ErrPoolQueueFull, ErrPoolTimeout } from './errors.js';
import { type GuardOwner, type PooledConnection, PoolGuard } from './pool-guard.js';

export interface PoolOptions {
  /** Where connections come from (any connection-factory plugin). */
  factory: ConnectionFactory;
  endpoint: Endpoint;
  /** Most connections open at once, lent out or idle (default 10). */
  max?: number;
  /** Connections kept open even when idle, re-created in the background with backoff (default 0). */
  min?: number;
  /** How long acquire() waits before TRIB_POOL_TIMEOUT (default 10 000 ms; 0 = forever). */
  acquireTimeoutMs?: number;
  /** Idle connections above `min` are closed after this long unused (default 30 000 ms; 0 = never). */
  idleTimeoutMs?: number;
  /** Most callers waiting at once; one more gets TRIB_POOL_QUEUE_FULL (default 1000). */
  maxWaiting?: number;
  /** Passed to factory.connect (default 10 000 ms). */
  connectTimeoutMs?: number;
  /**
   * Runs on an idle connection before it is lent out; false or a throw destroys it and the caller
   * gets another. Not run on a connection handed straight from one user to the next.
   */
  healthCheck?: (connection: Connection) => boolean | Promise<boolean>;
  /** Bounds one health check (default 5 000 ms); a check that takes longer counts as failed. */
  healthCheckTimeoutMs?: number;
  /**
   * Runs once on every new connection before it is used (handshake, auth, select bucket). A throw
   * destroys the connection and the error goes to the waiting caller.
   */
  onCreate?: (connection: Connection) => void | Promise<void>;
  /** Background errors that have no caller to go to (re-creating `min` connections). */
  onError?: (err: unknown) => void;
  /** Backoff for re-creating `min` connections (default 100 ms doubling to 10 s). */
  backoff?: { startMs: number; factor: number; maxMs: number };
  /** A `pool` label on its metrics, next to `endpoint` (`<host>:<port>`). */
  name?: string;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

export interface AcquireOptions {
  signal?: AbortSignal;
  /** Overrides the pool's acquireTimeoutMs for this call. */
  timeoutMs?: number;
}

export interface CloseOptions {
  /**
   * true (default): refuse new acquires, serve the callers already waiting, wait for every
   * connection to come back, then close them. false: reject waiters and destroy everything now.
   */
  drain?: boolean;
  /** With drain, give up waiting after this long and close everything (default: wait forever). */
  timeoutMs?: number;
}

export interface PoolStats {
  /** Open connections (idle + in use + being checked). */
  size: number;
  idle: number;
  inUse: number;
  waiting: number;
  /** Connections being created. */
  pending: number;
  created: number;
  destroyed: number;
  timeouts: number;
  acquired: number;
  released: number;
  creationErrors: number;
  healthCheckFailures: number;
  evicted: number;
  queueFull: number;
  aborted: number;
  doubleReleases: number;
}

interface Waiter {
  resolve(guard: PoolGuard): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  since: number;
  settled: boolean;
}

const now = () => performance.now();

export class Pool implements GuardOwner, AsyncDisposable {
  readonly endpoint: Endpoint;
  readonly #factory: ConnectionFactory;
  readonly #max: number;
  readonly #min: number;
  readonly #acquireTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #maxWaiting: number;
  readonly #connectTimeoutMs: number;
  readonly #healthCheck: PoolOptions['healthCheck'];
  readonly #healthCheckTimeoutMs: number;
  readonly #onCreate: PoolOptions['onCreate'];
  readonly #onError: PoolOptions['onError'];
  readonly #backoff: { startMs: number; factor: number; maxMs: number };
  readonly #ep: string;
  readonly log: Logger;

  /** Every open connection. */
  readonly #all = new Set<PooledConnection>();
  /** Free connections, oldest first; reuse takes the newest (end), eviction the oldest (start). */
  #idle: PooledConnection[] = [];
  readonly #waiters: Waiter[] = [];
  #waiterHead = 0;
  #pending = 0;
  #busy = 0;
  #nextId = 1;

  #closing = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #drainResolve: (() => void) | undefined;
  /** Aborts connects in flight on a forced close. */
  readonly #connectAbort = new AbortController();
  /** Stops the min loop and the reaper. */
  readonly #lifecycle = new AbortController();
  #minLoopRunning = false;
  #reaper: NodeJS.Timeout | undefined;

  readonly metrics: MetricsRegistry;
  readonly #g;
  readonly #c;

  constructor(options: PoolOptions) {
    if (!options || typeof options.factory?.connect !== 'function') {
      throw ErrInvalidArgument('factory', 'a ConnectionFactory is required');
    }
    if (
      !options.endpoint ||
      typeof options.endpoint.host !== 'string' ||
      !Number.isInteger(options.endpoint.port)
    ) {
      throw ErrInvalidArgument('endpoint', 'must be { host: string, port: integer }');
    }
    this.#factory = options.factory;
    this.endpoint = { host: options.endpoint.host, port: options.endpoint.port };
    this.#ep = `${this.endpoint.host}:${this.endpoint.port}`;
    this.#max = options.max ?? 10;
    this.#min = options.min ?? 0;
    if (!Number.isInteger(this.#max) || this.#max < 1)
      throw ErrInvalidArgument('max', 'must be an integer >= 1');
    if (!Number.isInteger(this.#min) || this.#min < 0 || this.#min > this.#max) {
      throw ErrInvalidArgument('min', 'must be an integer between 0 and max');
    }
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 10_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#maxWaiting = options.maxWaiting ?? 1000;
    if (!(this.#maxWaiting >= 0)) throw ErrInvalidArgument('maxWaiting', 'must be >= 0');
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#healthCheck = options.healthCheck;
    this.#healthCheckTimeoutMs = options.healthCheckTimeoutMs ?? 5_000;
    this.#onCreate = options.onCreate;
    this.#onError = options.onError;
    this.#backoff = options.backoff ?? { startMs: 100, factor: 2, maxMs: 10_000 };
    this.log = componentLogger(options.logger, 'pool', { endpoint: this.#ep });
    this.metrics = options.metrics ?? createMetrics();
    const group = this.metrics.group('pool', {
      endpoint: this.#ep,
      ...(options.name ? { pool: options.name } : {}),
    });
    this.#g = {
      size: group.gauge('size', 'Open connections'),
      idle: group.gauge('idle', 'Idle connections'),
      inUse: group.gauge('in_use', 'Connections lent out'),
      waiting: group.gauge('waiting', 'Callers waiting for a connection'),
      pending: group.gauge('pending', 'Connections being created'),
    };
    this.#c = {
      created: group.counter('created', 'Connections created'),
      destroyed: group.counter('destroyed', 'Connections destroyed'),
      timeouts: group.counter('timeouts', 'Acquires that timed out'),
      acquired: group.counter('acquired', 'Successful acquires'),
      released: group.counter('released', 'Connections released back'),
      creationErrors: group.counter('creation_errors', 'Failed connection attempts'),
      healthCheckFailures: group.counter('health_check_failures', 'Connections that failed a health check'),
      evicted: group.counter('evicted', 'Idle connections closed after idleTimeoutMs'),
      queueFull: group.counter('queue_full', 'Acquires refused because maxWaiting callers were waiting'),
      aborted: group.counter('aborted', 'Acquires aborted by their signal'),
      doubleReleases: group.counter('double_releases', 'Second release or destroy of one guard (ignored)'),
    };
    this.#waitHistogram = group.histogram('acquire_wait_seconds', 'How long callers that had to wait waited');
    if (this.#idleTimeoutMs > 0) {
      const every = Math.max(10, Math.min(1_000, Math.floor(this.#idleTimeoutMs / 4)));
      this.#reaper = setInterval(() => this.#reap(), every);
      this.#reaper.unref();
    }
    this.#ensureMin();
  }

  readonly #waitHistogram;

  /** Borrows a connection: an idle one, a new one (below max), or the next one returned (FIFO). */
  acquire(options: AcquireOptions = {}): Promise<PoolGuard> {
    if (this.#closing) return Promise.reject(ErrPoolClosed(this.#ep));
    const { signal } = options;
    if (signal?.aborted) {
      this.#c.aborted.inc();
      return Promise.reject(ErrAborted('pool acquire', { cause: signal.reason }));
    }
    // Fast path: nobody queued ahead, a free connection, nothing to check.
    if (this.#waiting() === 0 && this.#healthCheck === undefined) {
      const entry = this.#takeIdle();
      if (entry) return Promise.resolve(this.#lend(entry));
    }
    if (this.#waiting() >= this.#maxWaiting && (this.#idle.length === 0 || this.#waiting() > 0)) {
      this.#c.queueFull.inc();
      return Promise.reject(ErrPoolQueueFull(this.#ep, this.#maxWaiting));
    }
    return new Promise<PoolGuard>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
        since: now(),
        settled: false,
      };
      const timeoutMs = options.timeoutMs ?? this.#acquireTimeoutMs;
      if (timeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          if (this.#removeWaiter(waiter)) {
            this.#c.timeouts.inc();
            reject(ErrPoolTimeout(this.#ep, timeoutMs));
          }
        }, timeoutMs);
      }
      if (signal) {
        waiter.onAbort = () => {
          if (this.#removeWaiter(waiter)) {
            this.#c.aborted.inc();
            reject(ErrAborted('pool acquire', { cause: signal.reason }));
          }
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#dispatch();
    });
  }

  /**
   * Runs `fn` with a borrowed connection and gives it back afterwards. If `fn` throws, the
   * connection is destroyed (its protocol state is unknown) and the error rethrown.
   */
  async use<T>(fn: (connection: Connection) => T | Promise<T>, options: AcquireOptions = {}): Promise<T> {
    const guard = await this.acquire(options);
    let result: T;
    try {
      result = await fn(guard.connection);
    } catch (err) {
      guard.destroy('use() callback threw');
      throw err;
    }
    guard.release();
    return result;
  }

  stats(): PoolStats {
    return {
      size: this.#all.size,
      idle: this.#idle.length,
      inUse: this.#busy,
      waiting: this.#waiting(),
      pending: this.#pending,
      created: this.#c.created.value,
      destroyed: this.#c.destroyed.value,
      timeouts: this.#c.timeouts.value,
      acquired: this.#c.acquired.value,
      released: this.#c.released.value,
      creationErrors: this.#c.creationErrors.value,
      healthCheckFailures: this.#c.healthCheckFailures.value,
      evicted: this.#c.evicted.value,
      queueFull: this.#c.queueFull.value,
      aborted: this.#c.aborted.value,
      doubleReleases: this.#c.doubleReleases.value,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Idempotent; every call returns the same promise. See CloseOptions. */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closePromise) {
      if (options.drain === false && !this.#closed) this.#forceClose();
      return this.#closePromise;
    }
    this.#closing = true;
    this.#lifecycle.abort();
    if (this.#reaper) clearInterval(this.#reaper);
    const drain = options.drain ?? true;
    if (!drain) {
      this.#forceClose();
      this.#closePromise = Promise.resolve();
      return this.#closePromise;
    }
    this.#closePromise = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#drainResolve = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.log.warn(
            { inUse: this.#busy, waiting: this.#waiting() },
            'drain timed out; closing everything',
          );
          this.#forceClose();
        }, options.timeoutMs);
      }
      this.#checkDrained();
    });
    return this.#closePromise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- GuardOwner -------------------------------------------------------------------------

  /** @internal */
  returnConnection(entry: PooledConnection, guard: PoolGuard): void {
    if (entry.guard !== guard) return;
    entry.guard = undefined;
    this.#busy--;
    this.#c.released.inc();
    if (entry.state === 'dead' || this.#isBroken(entry.connection)) {
      this.#drop(entry, 'broken when released');
      this.#dispatch(); // a waiter may need a new connection in its place
    } else if (this.#closed) {
      this.#drop(entry, 'pool closed');
    } else {
      entry.lastUsed = now();
      // Straight to the next waiter (FIFO) without a trip through the idle list.
      const waiter = this.#nextWaiter();
      if (waiter) {
        this.#deliver(entry, waiter);
      } else {
        entry.state = 'idle';
        this.#idle.push(entry);
      }
    }
    this.#afterChange();
  }

  /** @internal */
  destroyConnection(entry: PooledConnection, guard: PoolGuard, reason: string): void {
    if (entry.guard !== guard) return;
    entry.guard = undefined;
    this.#busy--;
    this.#drop(entry, reason);
    this.#dispatch(); // a waiter may need a new connection in its place
  }

  /** @internal */
  warnReuse(entry: PooledConnection, what: 'release' | 'destroy'): void {
    this.#c.doubleReleases.inc();
    this.log.warn({ connection: entry.id }, `guard ${what}d after it was already given back; ignored`);
  }

  // ---- internals ------------------------------------------------------------------------------

  #waiting(): number {
    return this.#waiters.length - this.#waiterHead;
  }

  #nextWaiter(): Waiter | undefined {
    while (this.#waiterHead < this.#waiters.length) {
      const w = this.#waiters[this.#waiterHead]!;
      this.#waiters[this.#waiterHead] = undefined as never;
      this.#waiterHead++;
      if (this.#waiterHead > 64 && this.#waiterHead * 2 > this.#waiters.length) {
        this.#waiters.splice(0, this.#waiterHead);
        this.#waiterHead = 0;
      }
      if (!w.settled) return w;
    }
    return undefined;
  }

  /** Puts a waiter back at the front (its connection failed a health check). */
  #requeueFront(w: Waiter): void {
    if (this.#waiterHead > 0) this.#waiters[--this.#waiterHead] = w;
    else this.#waiters.unshift(w);
  }

  #removeWaiter(w: Waiter): boolean {
    if (w.settled) return false;
    w.settled = true;
    this.#cleanupWaiter(w);
    const i = this.#waiters.indexOf(w, this.#waiterHead);
    if (i >= 0) this.#waiters.splice(i, 1);
    this.#afterChange();
    return true;
  }

  #cleanupWaiter(w: Waiter): void {
    if (w.timer) clearTimeout(w.timer);
    if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
  }

  #takeIdle(): PooledConnection | undefined {
    while (this.#idle.length > 0) {
      const entry = this.#idle.pop()!;
      if (entry.state === 'idle' && !this.#isBroken(entry.connection)) return entry;
      this.#drop(entry, 'broken while idle');
    }
    return undefined;
  }

  #lend(entry: PooledConnection): PoolGuard {
    const guard = new PoolGuard(this, entry);
    entry.state = 'busy';
    entry.guard = guard;
    this.#busy++;
    this.#c.acquired.inc();
    this.#afterChange();
    return guard;
  }

  /** Gives `entry` to `waiter` (already taken off the queue). */
  #deliver(entry: PooledConnection, waiter: Waiter): void {
    waiter.settled = true;
    this.#cleanupWaiter(waiter);
    this.#waitHistogram.observe((now() - waiter.since) / 1000);
    waiter.resolve(this.#lend(entry));
  }

  /** Matches waiters with idle connections, health-checking them, and creates what is missing. */
  #dispatch(): void {
    while (this.#waiting() > 0 && this.#idle.length > 0) {
      const entry = this.#takeIdle();
      if (!entry) break;
      const waiter = this.#nextWaiter();
      if (!waiter) {
        entry.state = 'idle';
        this.#idle.push(entry);
        break;
      }
      if (this.#healthCheck) this.#checkThenDeliver(entry, waiter);
      else this.#deliver(entry, waiter);
    }
    // Unmet demand: create connections up to max.
    let demand = this.#waiting() - this.#pending;
    while (demand > 0 && this.#all.size + this.#pending < this.#max && !this.#closed) {
      demand--;
      void this.#create('demand');
    }
    this.#afterChange();
  }

  #checkThenDeliver(entry: PooledConnection, waiter: Waiter): void {
    entry.state = 'checking';
    const failed = (why: unknown) => {
      this.#c.healthCheckFailures.inc();
      this.log.debug({ connection: entry.id, why }, 'health check failed; destroying');
      this.#drop(entry, 'failed health check');
      if (!waiter.settled) this.#requeueFront(waiter);
      this.#dispatch();
    };
    const passed = () => {
      if (entry.state !== 'checking') {
        // Died during the check (its close handler dropped it): the caller keeps its place.
        if (!waiter.settled) this.#requeueFront(waiter);
        this.#dispatch();
        return;
      }
      if (waiter.settled || this.#closed) {
        // The caller gave up while we checked: the connection goes back to the pool.
        entry.state = 'idle';
        this.#idle.push(entry);
        this.#dispatch();
        if (this.#closing) this.#checkDrained();
        return;
      }
      this.#deliver(entry, waiter);
    };
    let result: boolean | Promise<boolean>;
    try {
      result = this.#healthCheck!(entry.connection);
    } catch (err) {
      failed(err);
      return;
    }
    if (typeof (result as Promise<boolean>)?.then !== 'function') {
      if (result === true && !this.#isBroken(entry.connection)) passed();
      else failed('returned false');
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.#healthCheckTimeoutMs);
    });
    Promise.race([result as Promise<boolean>, timeout]).then(
      (ok) => {
        clearTimeout(timer);
        if (ok === true && !this.#isBroken(entry.connection)) passed();
        else failed(ok === false ? 'returned false or timed out' : 'did not return true');
      },
      (err) => {
        clearTimeout(timer);
        failed(err);
      },
    );
  }

  async #create(why: 'demand' | 'min'): Promise<boolean> {
    this.#pending++;
    this.#afterChange();
    let connection: Connection | undefined;
    try {
      connection = await this.#factory.connect(this.endpoint, {
        timeoutMs: this.#connectTimeoutMs,
        signal: this.#connectAbort.signal,
      });
      if (this.#onCreate) await this.#onCreate(connection);
    } catch (err) {
      connection?.destroy();
      this.#pending--;
      this.#c.creationErrors.inc();
      this.log.debug({ err, why }, 'connection attempt failed');
      // The error goes to the caller waiting longest, never to a log only.
      const waiter = this.#nextWaiter();
      if (waiter) {
        waiter.settled = true;
        this.#cleanupWaiter(waiter);
        waiter.reject(err);
      } else if (why === 'min' && !this.#closing) {
        this.#onError?.(err);
      }
      this.#afterChange();
      if (this.#closing) this.#checkDrained();
      else {
        if (waiter) this.#dispatch(); // the others still want connections: each gets its own try
        this.#ensureMin(); // the min loop may have stood down while this attempt was pending
      }
      return false;
    }
    this.#pending--;
    if (this.#closed) {
      connection.destroy();
      this.#afterChange();
      return false;
    }
    const entry: PooledConnection = {
      connection,
      id: this.#nextId++,
      state: 'idle',
      lastUsed: now(),
      guard: undefined,
    };
    this.#all.add(entry);
    this.#c.created.inc();
    this.#watch(entry);
    const waiter = this.#nextWaiter();
    if (waiter) this.#deliver(entry, waiter);
    else this.#idle.push(entry);
    this.#afterChange();
    if (this.#closing) this.#checkDrained();
    return true;
  }

  /** An idle connection that errors or closes leaves the pool at once; a busy one when returned. */
  #watch(entry: PooledConnection): void {
    const c = entry.connection;
    const gone = () => {
      if (entry.state === 'idle') {
        const i = this.#idle.indexOf(entry);
        if (i >= 0) this.#idle.splice(i, 1);
        this.#drop(entry, 'closed while idle');
        this.#afterChange();
      } else if (entry.state === 'checking') {
        // the health check's callbacks see the state and drop it
        entry.state = 'dead';
        this.#all.delete(entry);
        this.#c.destroyed.inc();
        c.destroy();
        this.#afterChange();
      } else if (entry.state === 'busy') {
        entry.state = 'dead';
      }
    };
    c.on('error', (err) => {
      this.log.debug({ err, connection: entry.id }, 'pooled connection error');
      gone();
    });
    c.once('close', gone);
    // The peer half-closed: the connection is useless to the next user.
    c.once('end', () => {
      if (entry.state === 'idle') gone();
      else if (entry.state !== 'dead') entry.state = 'dead';
    });
  }

  #isBroken(c: Connection): boolean {
    return c.destroyed || c.readableEnded || c.writableEnded || c.writableFinished;
  }

  /** Destroys and forgets a connection that is not idle-listed and not lent out. */
  #drop(entry: PooledConnection, reason: string): void {
    const wasTracked = this.#all.delete(entry);
    const wasDead = entry.state === 'dead';
    entry.state = 'dead';
    if (!entry.connection.destroyed) entry.connection.destroy();
    if (wasTracked || !wasDead) {
      if (wasTracked) this.#c.destroyed.inc();
      this.log.debug({ connection: entry.id, reason }, 'connection destroyed');
    }
    if (!this.#closing) this.#ensureMin();
  }

  #reap(): void {
    if (this.#closing) return;
    const deadline = now() - this.#idleTimeoutMs;
    // Oldest first; never below min.
    while (this.#idle.length > 0 && this.#all.size > this.#min && this.#idle[0]!.lastUsed <= deadline) {
      const entry = this.#idle.shift()!;
      this.#c.evicted.inc();
      this.#drop(entry, 'idle timeout');
    }
    this.#afterChange();
  }

  /** Starts the background loop that brings the pool back to `min` (with backoff on failure). */
  #ensureMin(): void {
    if (this.#min === 0 || this.#minLoopRunning || this.#closing) return;
    if (this.#all.size + this.#pending >= this.#min) return;
    this.#minLoopRunning = true;
    backoffLoop(
      'pool-min',
      async () => {
        if (this.#closing) return -1;
        if (this.#all.size + this.#pending >= this.#min) return -1;
        return (await this.#create('min')) ? 1 : 0;
      },
      { ...this.#backoff, signal: this.#lifecycle.signal },
    )
      .catch((err) => {
        this.log.error({ err }, 'min loop failed');
        this.#onError?.(err);
      })
      .finally(() => {
        this.#minLoopRunning = false;
        // Something may have died while the loop was finishing.
        if (!this.#closing && this.#all.size + this.#pending < this.#min) this.#ensureMin();
      });
  }

  #forceClose(): void {
    this.#closing = true;
    this.#closed = true;
    this.#lifecycle.abort();
    this.#connectAbort.abort();
    if (this.#reaper) clearInterval(this.#reaper);
    for (let w = this.#nextWaiter(); w; w = this.#nextWaiter()) {
      w.settled = true;
      this.#cleanupWaiter(w);
      w.reject(ErrPoolClosed(this.#ep));
    }
    for (const entry of [...this.#all]) {
      if (entry.state === 'busy') {
        // Its guard's release() will find it dead.
        entry.state = 'dead';
        this.#all.delete(entry);
        this.#c.destroyed.inc();
        entry.connection.destroy();
      } else {
        this.#drop(entry, 'pool closed');
      }
    }
    this.#idle = [];
    this.#afterChange();
    this.#drainResolve?.();
  }

  #checkDrained(): void {
    if (!this.#closing || this.#closed || !this.#drainResolve) return;
    if (this.#waiting() > 0 || this.#busy > 0) return;
    this.#forceClose();
  }

  #afterChange(): void {
    const g = this.#g;
    g.size.set(this.#all.size);
    g.idle.set(this.#idle.length);
    g.inUse.set(this.#busy);
    g.waiting.set(this.#waiting());
    g.pending.set(this.#pending);
    if (this.#closing && !this.#closed && this.#drainResolve && this.#busy === 0 && this.#waiting() === 0) {
      queueMicrotask(() => this.#checkDrained());
    }
  }
}

/** Creates a connection pool for one endpoint. */
export function createPool(options: PoolOptions): Pool {
  return new Pool(options);
}
