import {
  type BatchOp,
  checkKey,
  checkOps,
  collapseOps,
  componentLogger,
  decodeKeyList,
  ErrAborted,
  ErrStoreClosed,
  ErrStoreUnavailable,
  encodeKeyList,
  isTributaryError,
  type Logger,
  type MetricsInput,
  metricsScope,
  pagedScan,
  type ScanOptions,
  type Store,
  StoreCounters,
  type StoreEntry,
  type StoreStats,
  toRange,
  WatchHub,
  type WatchIterable,
  type WatchOptions,
} from '@tributary/core';
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisStoreOptions {
  /** Redis URL; default `REDIS_URL` from the environment, else redis://127.0.0.1:6379. */
  url?: string;
  /** Prefix of the Redis keys this store uses, so many stores share one Redis (default "tributary:store:"). */
  prefix?: string;
  /** Connect timeout in ms (default 5,000). */
  connectTimeoutMs?: number;
  /**
   * A command without a reply after this long rejects with TRIB_STORE_UNAVAILABLE (default 30 s),
   * so a dead network path never hangs a caller. A timed-out batch may still have been applied
   * (all of it, never part).
   */
  commandTimeoutMs?: number;
  /** Entries a scan fetches per round trip (default 512). */
  scanPageSize?: number;
  /** A scan page stops early once its values reach this many bytes (default 4 MiB). */
  scanPageBytes?: number;
  /** Distinct keys a watcher may fall behind before it ends with TRIB_STORE_WATCH_OVERFLOW (default 10,000). */
  maxWatchPending?: number;
  /** Extra ioredis options (tls, username, password, db, ...). */
  redisOptions?: RedisOptions;
  logger?: Logger;
  metrics?: MetricsInput;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_REDIS_PREFIX = 'tributary:store:';

// One page of a scan, atomically: the keys from the sorted set, then their values from the hash
// with HMGET in chunks sized from the average value so far, stopping once the values reach the
// byte budget (16 MiB values never pile up in one reply). Returns { more, cursor, k1, v1, ... }.
const SCAN_LUA = `
local count = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local ks = redis.call(ARGV[1], KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, count)
local out = {0, ''}
local more = 0
if #ks == count then more = 1 end
local bytes, rows, i, chunk = 0, 0, 1, 1
while i <= #ks do
  local j = math.min(i + chunk - 1, #ks)
  local vs = redis.call('HMGET', KEYS[2], unpack(ks, i, j))
  for n = 1, #vs do
    local v = vs[n]
    if v then
      out[#out + 1] = ks[i + n - 1]
      out[#out + 1] = v
      bytes = bytes + #v
      rows = rows + 1
    end
  end
  out[2] = ks[j]
  i = j + 1
  if bytes >= budget then
    if i <= #ks then more = 1 end
    break
  end
  local avg = math.max(bytes / math.max(rows, 1), 1)
  chunk = math.max(1, math.min(256, math.floor((budget - bytes) / avg)))
end
out[1] = more
return out
`;

type ScanCommand = (
  idx: string,
  val: string,
  cmd: string,
  a: Buffer | string,
  b: Buffer | string,
  count: number,
  budget: number,
) => Promise<[number, Buffer, ...Buffer[]]>;

const OPEN = Buffer.from('[');
const EXCL = Buffer.from('(');

/**
 * The `Store` contract over Redis (ioredis). Keys live in a sorted set (all scores 0, so
 * ZRANGEBYLEX orders them bytewise) and values in a hash beside it; a batch is one MULTI/EXEC
 * (ZADD/HSET for the puts, ZREM/HDEL for the deletes, PUBLISH of the keys), so other clients see
 * all of it or none. Scans page with a Lua script; watch subscribes to the store's channel.
 */
export class RedisStore implements Store {
  readonly name = 'redis';
  readonly prefix: string;
  readonly url: string;
  readonly #idx: string;
  readonly #val: string;
  readonly #channel: string;
  readonly #client: Redis;
  readonly #options: RedisStoreOptions;
  readonly #log: Logger;
  readonly #counters: StoreCounters;
  readonly #hub: WatchHub;
  readonly #closeController = new AbortController();
  readonly #pageSize: number;
  readonly #pageBytes: number;
  #subscriber: Redis | undefined;
  #subscribed: Promise<void> | undefined;
  #lastConnectError: Error | undefined;
  #closed = false;

  constructor(options: RedisStoreOptions = {}) {
    this.#options = options;
    this.url = options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.#idx = `${this.prefix}idx`;
    this.#val = `${this.prefix}val`;
    this.#channel = `${this.prefix}watch`;
    this.#log = componentLogger(options.logger, 'store-redis', { prefix: this.prefix });
    this.#counters = new StoreCounters(metricsScope(options.metrics, 'store', { store: 'redis' }));
    this.#hub = new WatchHub('redis', options.maxWatchPending);
    this.#pageSize = options.scanPageSize ?? 512;
    this.#pageBytes = options.scanPageBytes ?? 4 * 1024 * 1024;
    this.#client = this.#connect('client');
    this.#client.defineCommand('tribScan', { numberOfKeys: 2, lua: SCAN_LUA });
  }

  /** Names of the Redis keys this store owns (for tooling and cleanup). */
  get redisKeys(): { index: string; values: string; channel: string } {
    return { index: this.#idx, values: this.#val, channel: this.#channel };
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#open();
    const k = checkKey(key);
    this.#counters.gets.inc();
    const v = await this.#call('get', () => this.#client.hgetBuffer(this.#val, k));
    return v ?? undefined;
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    const ks = keys.map((k, i) => checkKey(k, `keys[${i}]`));
    if (ks.length === 0) return [];
    this.#counters.gets.inc(ks.length);
    const vs = await this.#call('getMany', () => this.#client.hmgetBuffer(this.#val, ...ks));
    return vs.map((v) => v ?? undefined);
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#open();
    const t0 = performance.now();
    const checked = checkOps(ops);
    if (checked.length === 0) return;
    // ZADD/HSET then ZREM/HDEL: with any delete, keep only the last op per key (puts alone may
    // repeat a key; HSET keeps the last value)
    const { puts, dels } = checked.some((op) => op.type === 'del')
      ? collapseOps(checked)
      : { puts: checked, dels: [] as Buffer[] };
    const multi = this.#client.multi();
    if (puts.length > 0) {
      const members: (number | Buffer)[] = new Array(puts.length * 2);
      const fields: Buffer[] = new Array(puts.length * 2);
      for (let i = 0; i < puts.length; i++) {
        members[2 * i] = 0;
        members[2 * i + 1] = puts[i]!.key;
        fields[2 * i] = puts[i]!.key;
        fields[2 * i + 1] = puts[i]!.value!;
      }
      // ioredis flattens array arguments: no spread, so no call-stack limit on batch size
      multi.zadd(this.#idx, members as never);
      multi.hset(this.#val, fields as never);
    }
    if (dels.length > 0) {
      multi.zrem(this.#idx, dels as never);
      multi.hdel(this.#val, dels as never);
    }
    // the notification rides in the same transaction: no extra round trip, delivered only if applied
    multi.publish(this.#channel, encodeKeyList(checked.map((op) => op.key)));
    const results = await this.#call('batch', () => multi.exec());
    // EXEC ran every command; a per-command error (WRONGTYPE, OOM) means someone else broke our keys
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw this.#unavailable('batch', failed?.[0] ?? new Error('transaction aborted'));
    this.#counters.batches.inc();
    this.#counters.batchSeconds.observe((performance.now() - t0) / 1000);
    this.#counters.puts.inc(puts.length);
    this.#counters.dels.inc(dels.length);
    if (this.#log.isLevelEnabled('trace')) this.#log.trace({ ops: checked.length }, 'batch');
  }

  /** Errors (closed store, bad options, Redis down) surface from the iteration. */
  scan(options: ScanOptions = {}): AsyncIterable<StoreEntry> {
    return pagedScan(() => {
      this.#open();
      const range = toRange(options);
      this.#counters.scans.inc();
      const scan = (this.#client as unknown as { tribScanBuffer: ScanCommand }).tribScanBuffer.bind(
        this.#client,
      );
      let left = range.empty ? 0 : range.limit;
      let cursor: Buffer | undefined;
      return async () => {
        if (left <= 0) return null;
        this.#open();
        const count = Math.min(left, this.#pageSize);
        let cmd: string;
        let a: Buffer | string;
        let b: Buffer | string;
        if (!range.reverse) {
          cmd = 'ZRANGEBYLEX';
          a = cursor ? Buffer.concat([EXCL, cursor]) : range.gte ? Buffer.concat([OPEN, range.gte]) : '-';
          b = range.lt ? Buffer.concat([EXCL, range.lt]) : '+';
        } else {
          cmd = 'ZREVRANGEBYLEX';
          a = cursor ? Buffer.concat([EXCL, cursor]) : range.lt ? Buffer.concat([EXCL, range.lt]) : '+';
          b = range.gte ? Buffer.concat([OPEN, range.gte]) : '-';
        }
        const reply = await this.#call('scan', () =>
          scan(this.#idx, this.#val, cmd, a, b, count, this.#pageBytes),
        );
        const rows = reply as unknown as Buffer[];
        const page: StoreEntry[] = [];
        for (let i = 2; i + 1 < rows.length && page.length < left; i += 2)
          page.push({ key: rows[i]!, value: rows[i + 1]! });
        const more = Number(reply[0]) === 1;
        left = more ? left - page.length : 0;
        cursor = rows[1];
        this.#counters.scannedRows.inc(page.length);
        // a page can be empty yet not the last (every key of it deleted meanwhile): fetch on
        return page.length > 0 || !more ? page : [];
      };
    });
  }

  /**
   * Keys written under `prefix` by any store on this Redis and prefix (pub/sub). `ready` resolves
   * once the subscription is live; writes before that are not seen. If the subscription's
   * connection drops, watchers end with TRIB_STORE_UNAVAILABLE (writes may have been missed).
   */
  watch(prefix: Uint8Array, options: WatchOptions = {}): WatchIterable {
    this.#open();
    if (options.signal?.aborted) throw ErrAborted('watch', { cause: options.signal.reason });
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closeController.signal])
      : this.#closeController.signal;
    const iterable = this.#hub.watch(prefix, signal, this.#subscribe());
    this.#counters.watchers.set(this.#hub.size);
    return iterable;
  }

  stats(): StoreStats {
    this.#counters.watchers.set(this.#hub.size);
    return this.#counters.snapshot();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeController.abort();
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    sub?.disconnect();
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit();
      } catch {
        this.#client.disconnect();
      }
    } else this.#client.disconnect();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #connect(role: string): Redis {
    const client = new Redis(this.url, {
      lazyConnect: true,
      // fail fast while Redis is down (TRIB_STORE_UNAVAILABLE) instead of queueing without bound
      maxRetriesPerRequest: 0,
      connectTimeout: this.#options.connectTimeoutMs ?? 5000,
      commandTimeout: this.#options.commandTimeoutMs ?? 30_000,
      retryStrategy: (times) => Math.min(times * 100, 2000),
      ...this.#options.redisOptions,
    });
    client.on('error', (err: Error) => {
      this.#lastConnectError = err;
      this.#log.warn({ err, role }, 'redis connection error');
    });
    client.on('ready', () => {
      this.#lastConnectError = undefined;
    });
    return client;
  }

  /** Subscribes once per store; watchers share it. */
  #subscribe(): Promise<void> {
    if (this.#subscribed) return this.#subscribed;
    const sub = this.#connect('subscriber');
    this.#subscriber = sub;
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString() !== this.#channel) return;
      this.#hub.publish(decodeKeyList(message));
    });
    sub.on('close', () => {
      if (this.#closed || this.#subscriber !== sub) return;
      // writes during the gap would be lost silently: end the watchers instead, they rescan
      this.#subscriber = undefined;
      this.#subscribed = undefined;
      sub.disconnect();
      this.#hub.closeAll(
        ErrStoreUnavailable(this.name, 'watch subscription lost', { cause: this.#lastConnectError }),
      );
    });
    this.#subscribed = sub.subscribe(this.#channel).then(
      () => undefined,
      (err) => {
        this.#subscribed = undefined;
        const e = this.#unavailable('watch', err);
        this.#hub.closeAll(e);
        throw e;
      },
    );
    // the ready promise may be ignored by callers; the failure reaches them through the iterator
    this.#subscribed.catch(() => {});
    return this.#subscribed;
  }

  async #call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw this.#unavailable(what, err);
    }
  }

  #unavailable(what: string, err: unknown): unknown {
    if (isTributaryError(err)) return err;
    if (this.#closed) return ErrStoreClosed(this.name, { cause: err });
    this.#counters.errors.inc();
    this.#log.warn({ err, op: what }, 'redis operation failed');
    if ((err as Error)?.message === 'Command timed out') {
      // the timed-out command still waits in ioredis's reply queue; a reply that never comes would
      // pair every later reply with the wrong command, so start over on a fresh connection
      this.#client.disconnect(true);
      return ErrStoreUnavailable(
        this.name,
        `${what} failed: no reply within ${this.#options.commandTimeoutMs ?? 30_000} ms`,
        {
          cause: err,
        },
      );
    }
    // ioredis reports "max retries" while the connection error (ECONNREFUSED ...) went to 'error'
    const connectError = this.#lastConnectError;
    const cause = connectError ?? err;
    const why = `${what} failed: ${(err as Error)?.message ?? String(err)}${connectError ? ` (${connectError.message})` : ''}`;
    return ErrStoreUnavailable(this.name, why, { cause });
  }

  #open(): void {
    if (this.#closed) throw ErrStoreClosed(this.name);
  }
}

export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}
