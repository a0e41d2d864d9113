import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DEFAULT_DATABASE_URL, MIGRATIONS_TABLE } from '../src/index.js';

export const connectionString = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;

export const uniqueTable = () => `trib_test_${randomBytes(6).toString('hex')}`;

/** Fails (never skips) when Postgres is not there. */
export async function requirePostgres(): Promise<void> {
  const c = new pg.Client({ connectionString, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is required at ${connectionString} for the store-postgres tests: ${(err as Error).message}`,
    );
  } finally {
    await c.end().catch(() => {});
  }
}

export async function dropTable(table: string): Promise<void> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    await c.query(`DROP TABLE IF EXISTS "${table}"`);
    await c.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE store_table = $1`, [table]).catch(() => {});
  } finally {
    await c.end();
  }
}
