import {
  type BatchOp,
  checkKey,
  checkOps,
  collapseOps,
  componentLogger,
  ErrAborted,
  ErrInvalidArgument,
  ErrStoreClosed,
  ErrStoreUnavailable,
  isTributaryError,
  type Logger,
  type MetricsInput,
  metricsScope,
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
import { pagedScan } from './internal/paged-scan.js';
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

/** Keys of a batch as NOTIFY payloads: hex keys joined by commas, each payload under 8000 bytes. */
export function encodeNotifyPayloads(keys: readonly Buffer[]): string[] {
  const out: string[] = [];
  let cur = '';
  for (const k of keys) {
    const h = k.toString('hex');
    if (cur.length > 0 && cur.length + 1 + h.length > NOTIFY_CHUNK) {
      out.push(cur);
      cur = '';
    }
    cur = cur.length > 0 ? `${cur},${h}` : h;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export function decodeNotifyPayload(payload: string): Buffer[] {
  if (!payload) return [];
  return payload.split(',').map((h) => Buffer.from(h, 'hex'));
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
    this.#counters = new StoreCounters(metricsScope(options.metrics, 'store-postgres'));
    this.#hub = new WatchHub('postgres', options.maxWatchPending);
    this.#pageSize = options.scanPageSize ?? 512;
    this.#pageBytes = options.scanPageBytes ?? 4 * 1024 * 1024;
    this.#pool = new pg.Pool({
      connectionString: this.#connectionString,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      query_timeout: options.queryTimeoutMs ?? 30_000,
      ...options.poolOptions,
    });
    this.#pool.on('error', (err) => this.#log.warn({ err }, 'idle postgres connection failed'));
    const t = quote(this.table);
    this.#sql = {
      get: `SELECT v FROM ${t} WHERE k = $1`,
      getMany: `SELECT k, v FROM ${t} WHERE k = ANY($1::bytea[])`,
      // one statement per batch shape, so nothing runs for an empty half
      putsDels:
        `WITH d AS (DELETE FROM ${t} WHERE k = ANY($4::bytea[])), ` +
        `i AS (INSERT INTO ${t} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ` +
        `ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v) ` +
        `SELECT pg_notify($3, p) FROM unnest($5::text[]) AS p`,
      puts:
        `WITH i AS (INSERT INTO ${t} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ` +
        `ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v) ` +
        `SELECT pg_notify($3, p) FROM unnest($4::text[]) AS p`,
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
    const checked = checkOps(ops);
    if (checked.length === 0) return;
    const { puts, dels } = collapseOps(checked);
    const payloads = encodeNotifyPayloads(checked.map((op) => op.key));
    const keys = puts.map((p) => p.key);
    const values = puts.map((p) => p.value!);
    const q: pg.QueryConfig =
      dels.length === 0
        ? {
            name: `trib_puts_${this.table}`,
            text: this.#sql.puts,
            values: [keys, values, this.channel, payloads],
          }
        : puts.length === 0
          ? { name: `trib_dels_${this.table}`, text: this.#sql.dels, values: [dels, this.channel, payloads] }
          : {
              name: `trib_putsdels_${this.table}`,
              text: this.#sql.putsDels,
              values: [keys, values, this.channel, dels, payloads],
            };
    await this.#query('batch', q);
    this.#counters.batches.inc();
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
      return async () => {
        if (left <= 0) return null;
        this.#open();
        const count = Math.min(left, this.#pageSize);
        const where: string[] = [];
        const values: unknown[] = [count, this.#pageBytes];
        const lower = range.reverse ? range.gte : (cursor ?? range.gte);
        const upper = range.reverse ? (cursor ?? range.lt) : range.lt;
        const lowerOp = !range.reverse && cursor ? '>' : '>=';
        if (lower) {
          values.push(lower);
          where.push(`k ${lowerOp} $${values.length}`);
        }
        if (upper) {
          values.push(upper);
          where.push(`k < $${values.length}`);
        }
        const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
        // the running total of value sizes stops a page at the byte budget without reading the
        // values it leaves out (octet_length reads only the TOAST header)
        const text =
          `SELECT k, v FROM (SELECT k, v, sum(octet_length(v)) OVER (ORDER BY k ${dir} ROWS UNBOUNDED PRECEDING) ` +
          `- octet_length(v) AS before FROM (SELECT k, v FROM ${t} ${cond} ORDER BY k ${dir} LIMIT $1) AS page) AS s ` +
          `WHERE before < $2 ORDER BY k ${dir}`;
        const name = `trib_scan_${this.table}_${dir}_${lower ? (lowerOp === '>' ? 'gt' : 'ge') : 'n'}_${upper ? 'lt' : 'n'}`;
        const res = await this.#query('scan', { name, text, values });
        const page: StoreEntry[] = new Array(res.rows.length);
        let bytes = 0;
        for (let i = 0; i < res.rows.length; i++) {
          const row = res.rows[i];
          bytes += (row.v as Buffer).length;
          page[i] = { key: row.k as Buffer, value: row.v as Buffer };
        }
        const more = page.length === count || (page.length > 0 && bytes >= this.#pageBytes);
        left = more ? left - page.length : 0;
        if (page.length > 0) cursor = page[page.length - 1]!.key as Buffer;
        this.#counters.scannedRows.inc(page.length);
        return page;
      };
    });
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

  async #query(what: string, q: pg.QueryConfig): Promise<pg.QueryResult> {
    try {
      await this.#schema();
      return await this.#pool.query(q);
    } catch (err) {
      throw this.#unavailable(what, err);
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

export function createPostgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresStore(options);
}

export { MIGRATIONS_TABLE, SCHEMA_VERSION };
