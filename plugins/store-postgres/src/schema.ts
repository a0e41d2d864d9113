import { ErrStoreUnavailable } from '@tributary/core';
import type pg from 'pg';

/** One row per store table: the schema version it is at. */
export const MIGRATIONS_TABLE = 'tributary_store_migrations';

/** Steps from version i to i+1; never edit a released step, append a new one. */
const MIGRATIONS: ((table: string) => string)[] = [
  (t) => `CREATE TABLE IF NOT EXISTS ${t} (k bytea PRIMARY KEY, v bytea NOT NULL)`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Any fixed 64-bit number: serialises migrations across processes. */
const MIGRATION_LOCK = 7_471_062_898_001n;

const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

/**
 * Brings `table` to SCHEMA_VERSION in one transaction under an advisory lock, so concurrent first
 * uses from several processes create it exactly once. Refuses a table a newer plugin migrated.
 */
export async function migrate(client: pg.PoolClient | pg.Client, table: string): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (store_table text PRIMARY KEY, version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())`,
    );
    const res = await client.query(
      `SELECT version, to_regclass($2) IS NOT NULL AS present FROM ${MIGRATIONS_TABLE} WHERE store_table = $1`,
      [table, quote(table)],
    );
    // a table dropped by hand (its version row left behind) is created again from scratch
    const current = res.rows.length > 0 && res.rows[0].present ? Number(res.rows[0].version) : 0;
    if (current > SCHEMA_VERSION) {
      throw ErrStoreUnavailable(
        'postgres',
        `table "${table}" is at schema version ${current}; this plugin knows up to ${SCHEMA_VERSION}`,
      );
    }
    for (let v = current; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]!(quote(table)));
    if (current < SCHEMA_VERSION) {
      await client.query(
        `INSERT INTO ${MIGRATIONS_TABLE} (store_table, version) VALUES ($1, $2) ON CONFLICT (store_table) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()`,
        [table, SCHEMA_VERSION],
      );
    }
    await client.query('COMMIT');
    return current;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
