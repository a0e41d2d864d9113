import {
  type BatchOp,
  checkKey,
  checkOps,
  collapseOps,
  componentLogger,
  decodeKeyList,
  ErrAborted,
  ErrInvalidArgument,
  ErrStoreClosed,
  ErrStoreUnavailable,
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
import pg from 'pg';
import { MIGRATIONS_TABLE, migrate, SCHEMA_VERSION } from './schema.js';

export interface PostgresStoreOptions {
  /** Default: DATABASE_URL; else the PG* variables when any is set; else postgres://root@127.0.0.1:5432/test. */
  connectionString?: string;
  /** Table holding this store's rows (default "tributary_store"); letters, digits, _; at most 48 chars. */
  table?: string;
  /** Connections in the pool (default 4; watch uses one more of its own). */
  poolSize?: number;
  /** Connect timeout in ms (default 5,000). */
  connectTimeoutMs?: number;
  /**
   * A query without a reply after this long rejects with TRIB_STORE_UNAVAILABLE (default 30 s) and
   * its connection is dropped, so a dead network path never hangs a caller. A timed-out batch may
   * still have committed (all of it, never part).
   */
  queryTimeoutMs?: number;
  /** Rows a scan fetches per query (default 512). */
  scanPageSize?: number;
  /** A scan page stops early once its values reach this many bytes (default 4 MiB). */
  scanPageBytes?: number;
  /** Distinct keys a watcher may fall behind before it ends with TRIB_STORE_WATCH_OVERFLOW (default 10,000). */
  maxWatchPending?: number;
  /** Extra pg pool options (ssl, ...). */
  poolOptions?: pg.PoolConfig;
  logger?: Logger;
  metrics?: MetricsInput;
}

export const DEFAULT_DATABASE_URL = 'postgres://root@127.0.0.1:5432/test';
export const DEFAULT_TABLE = 'tributary_store';
const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
/** Largest inline-value threshold a scan passes as an int4 (bytea values stop at 1 GiB anyway). */
const MAX_INLINE = 0x3fffffff;
/** NOTIFY payloads must stay under 8000 bytes. */
const NOTIFY_CHUNK = 7900;

function resolveConnectionString(given: string | undefined): string | undefined {
  if (given) return given;
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  const pgEnv = ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD'].some((v) => process.env[v]);
  // undefined lets pg read the PG* variables itself
  return pgEnv ? undefined : DEFAULT_DATABASE_URL;
}

const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

/** Marks the binary payload format (hex digits and commas never start with it). */
const NOTIFY_BINARY = '~';
/** Key bytes (with their u16 lengths) per payload: base64 of it plus the mark stays under NOTIFY_CHUNK. */
const NOTIFY_BYTES = Math.floor((NOTIFY_CHUNK - 1) / 4) * 3;

/**
 * Keys of a batch as NOTIFY payloads (text, each under 8000 bytes): "~" then base64 of each key as
 * a u16 length and its bytes. One buffer and one base64 call per payload: hex per key joined by
 * commas (the earlier format, still decoded) cost as much client CPU as the rest of a batch.
 */
export function encodeNotifyPayloads(keys: readonly Buffer[]): string[] {
  let total = 0;
  for (const k of keys) total += 2 + k.length;
  const buf = Buffer.allocUnsafe(total);
  const out: string[] = [];
  let start = 0;
  let o = 0;
  for (const k of keys) {
    if (o > start && o - start + 2 + k.length > NOTIFY_BYTES) {
      out.push(NOTIFY_BINARY + buf.toString('base64', start, o));
      start = o;
    }
    buf.writeUInt16BE(k.length, o);
    k.copy(buf, o + 2);
    o += 2 + k.length;
  }
  if (o > start) out.push(NOTIFY_BINARY + buf.toString('base64', start, o));
  return out;
}

export function decodeNotifyPayload(payload: string): Buffer[] {
  if (!payload) return [];
  if (!payload.startsWith(NOTIFY_BINARY)) return payload.split(',').map((h) => Buffer.from(h, 'hex'));
  return decodeKeyList(Buffer.from(payload.slice(1), 'base64'));
}

/**
 * The `Store` contract over PostgreSQL (pg): one table with a `bytea` primary key (Postgres orders
 * bytea bytewise), created on first use under a migration version. A batch is one statement
 * (delete + upsert + NOTIFY), so it commits as one transaction; scans page by key; watch
 * LISTENs on the table's channel.
 */
export class PostgresStore implements Store {
  readonly name = 'postgres';
  readonly table: string;
  readonly channel: string;
  readonly #options: PostgresStoreOptions;
  readonly #connectionString: string | undefined;
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #counters: StoreCounters;
  readonly #hub: WatchHub;
  readonly #closeController = new AbortController();
  readonly #pageSize: number;
  readonly #pageBytes: number;
  readonly #sql: { get: string; getMany: string; putsDels: string; puts: string; dels: string };
  #ready: Promise<void> | undefined;
  #listener: pg.Client | undefined;
  #listening: Promise<void> | undefined;
  #closed = false;

  constructor(options: PostgresStoreOptions = {}) {
    this.#options = options;
    this.table = options.table ?? DEFAULT_TABLE;
    if (!TABLE_RE.test(this.table))
      throw ErrInvalidArgument(
        'table',
        'letters, digits and _ only, not starting with a digit, at most 48 chars',
      );
    this.channel = `trib_${this.table}`;
    this.#connectionString = resolveConnectionString(options.connectionString);
    this.#log = componentLogger(options.logger, 'store-postgres', { table: this.table });
    this.#counters = new StoreCounters(metricsScope(options.metrics, 'store', { store: 'postgres' }));
    this.#hub = new WatchHub('postgres', options.maxWatchPending);
    this.#pageSize = options.scanPageSize ?? 512;
    this.#pageBytes = options.scanPageBytes ?? 4 * 1024 * 1024;
    this.#pool = new pg.Pool({
      connectionString: this.#connectionString,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      ...options.poolOptions,
    });
    this.#pool.on('error', (err) => this.#log.warn({ err }, 'idle postgres connection failed'));
    const t = quote(this.table);
    this.#sql = {
      get: `SELECT v FROM ${t} WHERE k = $1`,
      getMany: `SELECT k, v FROM ${t} WHERE k = ANY($1::bytea[])`,
      // one statement per batch shape, so nothing runs for an empty half; puts arrive as two
      // binary params (keys and values laid end to end) and their lengths, cut apart server-side:
      // no hex text per key and value each way (pg sends bytea[] as text), half the bytes
      putsDels:
        `WITH d AS (DELETE FROM ${t} WHERE k = ANY($6::bytea[])), ` +
        `i AS (${upsert(t)}) SELECT pg_notify($5, p) FROM unnest($7::text[]) AS p`,
      puts: `WITH i AS (${upsert(t)}) SELECT pg_notify($5, p) FROM unnest($6::text[]) AS p`,
      dels:
        `WITH d AS (DELETE FROM ${t} WHERE k = ANY($1::bytea[])) ` +
        `SELECT pg_notify($2, p) FROM unnest($3::text[]) AS p`,
    };
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#open();
    const k = checkKey(key);
    this.#counters.gets.inc();
    const res = await this.#query('get', {
      name: `trib_get_${this.table}`,
      text: this.#sql.get,
      values: [k],
    });
    return res.rows.length > 0 ? (res.rows[0].v as Buffer) : undefined;
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.#open();
    const ks = keys.map((k, i) => checkKey(k, `keys[${i}]`));
    if (ks.length === 0) return [];
    this.#counters.gets.inc(ks.length);
    const res = await this.#query('getMany', {
      name: `trib_getmany_${this.table}`,
      text: this.#sql.getMany,
      values: [ks],
    });
    const found = new Map<string, Buffer>();
    for (const row of res.rows) found.set((row.k as Buffer).toString('latin1'), row.v as Buffer);
    return ks.map((k) => found.get(k.toString('latin1')));
  }

  async batch(ops: readonly BatchOp[]): Promise<void> {
    this.#open();
    const t0 = performance.now();
    const checked = checkOps(ops);
    if (checked.length === 0) return;
    const { puts, dels } = collapseOps(checked);
    const payloads = encodeNotifyPayloads(checked.map((op) => op.key));
    let q: pg.QueryConfig;
    if (puts.length === 0)
      q = { name: `trib_dels_${this.table}`, text: this.#sql.dels, values: [dels, this.channel, payloads] };
    else {
      const { keys, values, keyLengths, valueLengths } = packPuts(puts);
      q =
        dels.length === 0
          ? {
              name: `trib_puts_${this.table}`,
              text: this.#sql.puts,
              values: [keys, values, keyLengths, valueLengths, this.channel, payloads],
            }
          : {
              name: `trib_putsdels_${this.table}`,
              text: this.#sql.putsDels,
              values: [keys, values, keyLengths, valueLengths, this.channel, dels, payloads],
            };
    }
    await this.#query('batch', q);
    this.#counters.batches.inc();
    this.#counters.batchSeconds.observe((performance.now() - t0) / 1000);
    this.#counters.puts.inc(puts.length);
    this.#counters.dels.inc(dels.length);
    if (this.#log.isLevelEnabled('trace')) this.#log.trace({ ops: checked.length }, 'batch');
  }

  /** Errors (closed store, bad options, Postgres down) surface from the iteration. */
  scan(options: ScanOptions = {}): AsyncIterable<StoreEntry> {
    return pagedScan(() => {
      this.#open();
      const range = toRange(options);
      this.#counters.scans.inc();
      const t = quote(this.table);
      const dir = range.reverse ? 'DESC' : 'ASC';
      let left = range.empty ? 0 : range.limit;
      let cursor: Buffer | undefined;
      // WHERE clause and parameters of the keys still to read; `from` (inclusive) starts a
      // page's second half at the first large value
      const bounds = (values: unknown[], from?: Buffer): { cond: string; tag: string } => {
        const where: string[] = [];
        const lower = range.reverse ? range.gte : (from ?? cursor ?? range.gte);
        const upper = range.reverse ? (from ?? cursor ?? range.lt) : range.lt;
        const lowerOp = !range.reverse && cursor && !from ? '>' : '>=';
        const upperOp = range.reverse && from ? '<=' : '<';
        if (lower) {
          values.push(lower);
          where.push(`k ${lowerOp} $${values.length}`);
        }
        if (upper) {
          values.push(upper);
          where.push(`k ${upperOp} $${values.length}`);
        }
        const tag = `${lower ? (lowerOp === '>' ? 'gt' : 'ge') : 'n'}_${upper ? (upperOp === '<' ? 'lt' : 'le') : 'n'}`;
        return { cond: where.length ? `WHERE ${where.join(' AND ')}` : '', tag };
      };
      return async () => {
        if (left <= 0) return null;
        this.#open();
        const count = Math.min(left, this.#pageSize);
        // Values up to an even share of the byte budget come inline, so the page stays under
        // it; a larger one comes back as NULL (v is NOT NULL) and the page goes on from there
        // with the running-total query, which stops at the budget without reading the values
        // it leaves out. Rows come back shaped as entries (key, value): nothing to copy.
        const inlineMax = Math.min(Math.floor(this.#pageBytes / count), MAX_INLINE);
        const values: unknown[] = [count, inlineMax];
        const { cond, tag } = bounds(values);
        const res = await this.#query('scan', {
          name: `trib_scan_${this.table}_${dir}_${tag}`,
          text: `SELECT k AS key, CASE WHEN octet_length(v) <= $2 THEN v END AS value FROM ${t} ${cond} ORDER BY k ${dir} LIMIT $1`,
          values,
        });
        const page = res.rows as StoreEntry[];
        let bytes = 0;
        let big = -1;
        for (let i = 0; i < page.length; i++) {
          const value = page[i]!.value as Buffer | null;
          if (value === null) {
            big = i;
            break;
          }
          bytes += value.length;
        }
        let more = page.length === count;
        if (big >= 0) {
          const from = page[big]!.key as Buffer;
          page.length = big;
          const rest = await this.#largeValues(t, dir, bounds, from, count - big, this.#pageBytes - bytes);
          for (const e of rest) {
            page.push(e);
            bytes += e.value.length;
          }
          more = rest.length > 0 && (page.length === count || bytes >= this.#pageBytes);
        }
        left = more ? left - page.length : 0;
        if (page.length > 0) cursor = page[page.length - 1]!.key as Buffer;
        this.#counters.scannedRows.inc(page.length);
        return page;
      };
    });
  }

  /** Up to `limit` rows from `from` on, stopping once their values reach `budget` bytes (at least one row). */
  async #largeValues(
    t: string,
    dir: string,
    bounds: (values: unknown[], from?: Buffer) => { cond: string; tag: string },
    from: Buffer,
    limit: number,
    budget: number,
  ): Promise<StoreEntry[]> {
    const values: unknown[] = [limit, Math.max(1, budget)];
    const { cond, tag } = bounds(values, from);
    // the running total of value sizes (octet_length reads only the TOAST header) cuts the rows
    // at the budget before any value is read
    const res = await this.#query('scan', {
      name: `trib_scanbig_${this.table}_${dir}_${tag}`,
      text:
        `SELECT key, value FROM (SELECT k AS key, v AS value, sum(octet_length(v)) OVER (ORDER BY k ${dir} ROWS UNBOUNDED PRECEDING) ` +
        `- octet_length(v) AS before FROM (SELECT k, v FROM ${t} ${cond} ORDER BY k ${dir} LIMIT $1) AS page) AS s ` +
        `WHERE before < $2 ORDER BY key ${dir}`,
      values,
    });
    return res.rows as StoreEntry[];
  }

  /**
   * Keys written under `prefix` by any store on this database and table (LISTEN/NOTIFY; delivered
   * at commit). `ready` resolves once LISTEN is in place. If the listening connection drops,
   * watchers end with TRIB_STORE_UNAVAILABLE (writes may have been missed): rescan, watch again.
   */
  watch(prefix: Uint8Array, options: WatchOptions = {}): WatchIterable {
    this.#open();
    if (options.signal?.aborted) throw ErrAborted('watch', { cause: options.signal.reason });
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closeController.signal])
      : this.#closeController.signal;
    const iterable = this.#hub.watch(prefix, signal, this.#listen());
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
    const listener = this.#listener;
    this.#listener = undefined;
    await Promise.allSettled([listener?.end(), this.#pool.end()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Creates or migrates the table once per store (retried after a failure). */
  #schema(): Promise<void> {
    if (!this.#ready) {
      this.#ready = (async () => {
        const client = await this.#pool.connect();
        try {
          await migrate(client, this.table);
        } finally {
          client.release();
        }
      })();
      this.#ready.catch(() => {
        this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  /**
   * One query on a pooled connection, with the query timeout. Measured on scans (client CPU per
   * row, rows consumed one by one): pg's promise form and its `query_timeout` each cost ~1.6x the
   * callback form without a timer, as much as the rest of the scan; this timer holds only the
   * connection it ends, and the callback form matches pg used directly.
   */
  async #query(what: string, q: pg.QueryConfig): Promise<pg.QueryResult> {
    let client: pg.PoolClient | undefined;
    let failure: unknown;
    try {
      await this.#schema();
      client = await this.#pool.connect();
      const timer = new QueryTimer(client, this.#options.queryTimeoutMs ?? 30_000);
      try {
        return await runQuery(client, q);
      } catch (err) {
        failure = timer.expired ? new Error(`no reply within ${timer.ms} ms`, { cause: err }) : err;
        throw failure;
      } finally {
        timer.clear();
      }
    } catch (err) {
      throw this.#unavailable(what, err);
    } finally {
      // a failed connection leaves the pool (release(err) ends it); a failed query on a
      // healthy connection (bad SQL, constraint) would too, which only costs a reconnect
      client?.release(failure !== undefined ? (failure as Error) : undefined);
    }
  }

  #listen(): Promise<void> {
    if (this.#listening) return this.#listening;
    const client = new pg.Client({
      connectionString: this.#connectionString,
      connectionTimeoutMillis: this.#options.connectTimeoutMs ?? 5000,
      ...(this.#options.poolOptions as pg.ClientConfig | undefined),
    });
    this.#listener = client;
    const lost = (err?: unknown) => {
      if (this.#closed || this.#listener !== client) return;
      this.#listener = undefined;
      this.#listening = undefined;
      client.end().catch(() => {});
      this.#hub.closeAll(this.#unavailable('watch', err ?? new Error('LISTEN connection ended')));
    };
    client.on('error', (err) => lost(err));
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel) return;
      this.#hub.publish(decodeNotifyPayload(msg.payload ?? ''));
    });
    this.#listening = (async () => {
      await client.connect();
      await client.query(`LISTEN ${quote(this.channel)}`);
    })().catch((err) => {
      if (this.#listener === client) {
        this.#listener = undefined;
        this.#listening = undefined;
      }
      client.end().catch(() => {});
      const e = this.#unavailable('watch', err);
      this.#hub.closeAll(e);
      throw e;
    });
    // callers may ignore `ready`; the failure reaches them through the iterator
    this.#listening.catch(() => {});
    return this.#listening;
  }

  #unavailable(what: string, err: unknown): unknown {
    if (isTributaryError(err)) return err;
    if (this.#closed) return ErrStoreClosed(this.name, { cause: err });
    this.#counters.errors.inc();
    this.#log.warn({ err, op: what }, 'postgres operation failed');
    const e = err as Error & { errors?: Error[] };
    // node's AggregateError (IPv4 + IPv6 refused) has an empty message: name the first inner error
    const why = e?.message || e?.errors?.[0]?.message || String(err);
    return ErrStoreUnavailable(this.name, `${what} failed: ${why}`, { cause: err });
  }

  #open(): void {
    if (this.#closed) throw ErrStoreClosed(this.name);
  }
}

/** INSERT ... ON CONFLICT of the rows packed by packPuts ($1 keys, $2 values, $3/$4 their lengths). */
const upsert = (t: string) =>
  `INSERT INTO ${t} (k, v) SELECT substring($1::bytea from ko for kl), substring($2::bytea from vo for vl) ` +
  `FROM (SELECT kl, vl, (1 + sum(kl) OVER w - kl)::int AS ko, (1 + sum(vl) OVER w - vl)::int AS vo ` +
  `FROM unnest($3::int4[], $4::int4[]) WITH ORDINALITY AS u(kl, vl, n) WINDOW w AS (ORDER BY n)) AS s ` +
  `ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`;

/** Keys and values of the puts laid end to end (pg sends a Buffer param in binary), with their lengths. */
function packPuts(puts: readonly { key: Buffer; value?: Buffer }[]): {
  keys: Buffer;
  values: Buffer;
  keyLengths: number[];
  valueLengths: number[];
} {
  const keyLengths: number[] = new Array(puts.length);
  const valueLengths: number[] = new Array(puts.length);
  const keyParts: Buffer[] = new Array(puts.length);
  const valueParts: Buffer[] = new Array(puts.length);
  for (let i = 0; i < puts.length; i++) {
    const op = puts[i]!;
    keyParts[i] = op.key;
    valueParts[i] = op.value!;
    keyLengths[i] = op.key.length;
    valueLengths[i] = op.value!.length;
  }
  return { keys: Buffer.concat(keyParts), values: Buffer.concat(valueParts), keyLengths, valueLengths };
}

/**
 * pg's callback form of `query` (see #query for why not the promise form). Like pg-pool's own
 * `pool.query`, listens for the connection's 'error' while the query runs: a checked-out client
 * has no other listener, and an unheard 'error' event would crash the process.
 */
function runQuery(client: pg.PoolClient, q: pg.QueryConfig): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    client.once('error', reject);
    client.query(q, (err: Error | null, res: pg.QueryResult) => {
      client.removeListener('error', reject);
      if (err) reject(err);
      else resolve(res);
    });
  });
}

/** Ends a connection whose query got no reply in time (pg errors the query: connection terminated). */
class QueryTimer {
  expired = false;
  readonly #timer: NodeJS.Timeout;

  constructor(
    client: pg.PoolClient,
    readonly ms: number,
  ) {
    this.#timer = setTimeout(() => {
      this.expired = true;
      // with a query active, end() destroys the socket at once instead of waiting for a reply
      client.end().catch(() => {});
    }, ms);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

export function createPostgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresStore(options);
}

export { MIGRATIONS_TABLE, SCHEMA_VERSION };
