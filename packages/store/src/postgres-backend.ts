import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Backend } from './backend.js';
import type { Database } from './schema.js';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/** Throws unless `schema` is a plain lower-case PostgreSQL identifier (so it never needs escaping). */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) {
    throw new TypeError(`invalid PostgreSQL schema name (expected ${SCHEMA_NAME.source})`);
  }
}

/**
 * BIGINT columns (times in ms, seq, counts) come back as numbers. Set on this pool only:
 * `pg.types.setTypeParser` would change every other pg user in the process.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * A pg pool whose every connection has `search_path` set to `schema` (default `public`), so
 * unqualified table names resolve there and several Gatehouse installations (or test runs)
 * can share one database.
 */
export function openPostgresBackend(url: string, schema = 'public'): Backend {
  assertSchemaName(schema);
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, types });
  // An idle connection that the server drops emits 'error' on the pool; without a listener
  // that would crash the process. pg has already discarded the connection; the next query
  // opens a new one.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    db,
    migrationTableSchema: schema,
    exclusivelyForMigration: (fn) =>
      withAdvisoryLock(pool, migrationLockKey(schema), async () => {
        await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
        return fn();
      }),
    close: () => db.destroy(),
  };
}

/** Drops a schema and everything in it (test clean-up). Refuses `public`. */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  assertSchemaName(schema);
  if (schema === 'public') throw new TypeError('refusing to drop the public schema');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/** A 64-bit advisory lock key per schema, so installations in different schemas do not wait for each other. */
function migrationLockKey(schema: string): string {
  return createHash('sha256').update(`gatehouse:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

/**
 * Holds a session-level advisory lock on a connection of its own while fn runs on the pool.
 * Kysely's Migrator locks only around running the migrations; creating the schema and its
 * own bookkeeping tables before that races when two processes start at once.
 */
async function withAdvisoryLock<T>(pool: pg.Pool, key: string, fn: () => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let unlocked = false;
  try {
    await client.query('select pg_advisory_lock($1::bigint)', [key]);
    try {
      return await fn();
    } finally {
      unlocked = await client.query('select pg_advisory_unlock($1::bigint)', [key]).then(
        () => true,
        () => false,
      );
    }
  } finally {
    // A connection that may still hold the lock is closed (which drops it), not pooled.
    client.release(!unlocked);
  }
}
