import {
  type Connection,
  type ConnectionFactory,
  type ConnectOptions,
  componentLogger,
  type Endpoint,
  ErrAborted,
  ErrConnectRefused,
  ErrConnectTimeout,
  type Listener,
  type Logger,
  type TributaryError,
} from '@tributary/core';
import { ErrMemoryListenFailed } from './errors.js';
import { createMemoryPair, type MemoryConnection } from './memory-connection.js';

/** A set of memory listeners that can reach each other (by default one per process). */
export class MemoryNamespace {
  readonly listeners = new Map<string, MemoryListener>();
  #nextPort = 1;
  #nextClientPort = 40_000;
  allocatePort(host: string): number {
    while (this.listeners.has(`${host}:${this.#nextPort}`)) this.#nextPort++;
    return this.#nextPort++;
  }
  clientPort(): number {
    return this.#nextClientPort++;
  }
}

const defaultNamespace = new MemoryNamespace();

export interface MemoryFactoryOptions {
  /** Listeners are found by `host:port` in this namespace (default: one shared per process). */
  namespace?: MemoryNamespace;
  /** What `connection.secure` says (default false; true lets SASL PLAIN run in tests). */
  secure?: boolean;
  /** Per-direction buffer before write() returns false (default 64 KiB). */
  highWaterMark?: number;
  /**
   * Keep the writable side open after the peer ends (true half-close: you may still answer, then
   * must end() yourself). Default false, as node:net: the peer's end closes the connection.
   */
  allowHalfOpen?: boolean;
  /** Pending connects a listener holds before refusing (default 511). */
  backlog?: number;
  /** Default connect timeout (default 10 000 ms; 0 = none). */
  connectTimeoutMs?: number;
  logger?: Logger;
}

interface PendingConnect {
  settle(server: MemoryConnection | undefined, err?: TributaryError): void;
}

/**
 * A memory listener. Beyond the Listener contract it can stop and resume accepting, which makes a
 * connect hang (for timeout and abort tests) the way a full TCP backlog does.
 */
export class MemoryListener implements Listener {
  readonly #ns: MemoryNamespace;
  readonly #endpoint: Endpoint;
  readonly #accept: (c: MemoryConnection) => void;
  readonly #backlog: number;
  readonly #queue: PendingConnect[] = [];
  #paused = false;
  #closed = false;

  constructor(
    ns: MemoryNamespace,
    endpoint: Endpoint,
    backlog: number,
    accept: (c: MemoryConnection) => void,
  ) {
    this.#ns = ns;
    this.#endpoint = endpoint;
    this.#backlog = backlog;
    this.#accept = accept;
  }

  address(): Endpoint {
    return { ...this.#endpoint };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stop accepting: new connects wait (and time out) instead of being served. */
  pauseAccept(): void {
    this.#paused = true;
  }

  resumeAccept(): void {
    this.#paused = false;
    while (!this.#paused && this.#queue.length > 0) this.#serve(this.#queue.shift()!);
  }

  /** @internal used by the factory */
  enqueue(pending: PendingConnect): (() => void) | undefined {
    if (this.#queue.length >= this.#backlog) {
      pending.settle(
        undefined,
        ErrConnectRefused(`memory:${this.#endpoint.host}:${this.#endpoint.port} (backlog full)`),
      );
      return undefined;
    }
    this.#queue.push(pending);
    setImmediate(() => {
      if (!this.#paused && !this.#closed) {
        const i = this.#queue.indexOf(pending);
        if (i >= 0) this.#serve(this.#queue.splice(i, 1)[0]!);
      }
    });
    return () => {
      const i = this.#queue.indexOf(pending);
      if (i >= 0) this.#queue.splice(i, 1);
    };
  }

  /** @internal */
  serveWith(server: MemoryConnection): void {
    this.#accept(server);
  }

  #serve(pending: PendingConnect): void {
    pending.settle(undefined);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const key = `${this.#endpoint.host}:${this.#endpoint.port}`;
    if (this.#ns.listeners.get(key) === this) this.#ns.listeners.delete(key);
    for (const p of this.#queue.splice(0)) {
      p.settle(undefined, ErrConnectRefused(`memory:${key}`));
    }
    return Promise.resolve();
  }
}

/** The memory factory: its listeners can pause accepting. */
export interface MemoryConnectionFactory extends ConnectionFactory {
  listen(endpoint: Endpoint, onConnection: (connection: Connection) => void): Promise<MemoryListener>;
}

/** In-process connected pairs for tests and benchmarks, with real back-pressure. */
export function createMemoryFactory(options: MemoryFactoryOptions = {}): MemoryConnectionFactory {
  const ns = options.namespace ?? defaultNamespace;
  const secure = options.secure ?? false;
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  const backlog = options.backlog ?? 511;
  const allowHalfOpen = options.allowHalfOpen ?? false;
  const defaultTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const log = componentLogger(options.logger, 'connection-memory');

  return {
    name: 'memory',
    connect(endpoint: Endpoint, connectOptions: ConnectOptions = {}): Promise<Connection> {
      const key = `${endpoint.host}:${endpoint.port}`;
      const { signal } = connectOptions;
      const timeoutMs = connectOptions.timeoutMs ?? defaultTimeoutMs;
      if (signal?.aborted)
        return Promise.reject(ErrAborted(`connect to memory:${key}`, { cause: signal.reason }));
      const listener = ns.listeners.get(key);
      if (!listener || listener.closed) return Promise.reject(ErrConnectRefused(`memory:${key}`));
      return new Promise<Connection>((resolve, reject) => {
        let done = false;
        let timer: NodeJS.Timeout | undefined;
        let dequeue: (() => void) | undefined;
        const finish = () => {
          done = true;
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          dequeue?.();
        };
        const onAbort = () => {
          if (done) return;
          finish();
          reject(ErrAborted(`connect to memory:${key}`, { cause: signal?.reason }));
        };
        const pending: PendingConnect = {
          settle: (_s, err) => {
            if (done) return;
            finish();
            if (err) {
              reject(err);
              return;
            }
            const [client, server] = createMemoryPair({
              secure,
              highWaterMark,
              allowHalfOpen,
              names: ['memory-client', endpoint.host],
              ports: [ns.clientPort(), endpoint.port],
            });
            try {
              listener.serveWith(server);
            } catch (e) {
              log.error({ err: e }, 'onConnection threw; destroying the connection');
              server.destroy();
            }
            resolve(client);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        if (timeoutMs > 0) {
          timer = setTimeout(() => {
            if (done) return;
            finish();
            reject(ErrConnectTimeout(`memory:${key}`, timeoutMs));
          }, timeoutMs);
        }
        dequeue = listener.enqueue(pending);
      });
    },
    async listen(
      endpoint: Endpoint,
      onConnection: (connection: Connection) => void,
    ): Promise<MemoryListener> {
      const port = endpoint.port === 0 ? ns.allocatePort(endpoint.host) : endpoint.port;
      const key = `${endpoint.host}:${port}`;
      if (ns.listeners.has(key)) throw ErrMemoryListenFailed(key, 'address in use');
      const listener = new MemoryListener(ns, { host: endpoint.host, port }, backlog, onConnection);
      ns.listeners.set(key, listener);
      return listener;
    },
  };
}
