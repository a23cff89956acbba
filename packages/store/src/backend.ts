import type { Kysely } from 'kysely';
import type { Mutex } from './mutex.js';
import type { Database } from './schema.js';

/**
 * What a dialect brings to the store: a Kysely instance and the few things that really
 * differ between SQLite and PostgreSQL. Everything else is dialect-free.
 */
export interface Backend {
  readonly dialect: 'sqlite' | 'postgres';
  readonly db: Kysely<Database>;
  /** The schema holding the migration tables (PostgreSQL); undefined on SQLite. */
  readonly migrationTableSchema: string | undefined;
  /** The SQLite database file (absent for PostgreSQL and for `:memory:`). */
  readonly file?: string;
  /**
   * With `file`: the process-wide lock its connections take turns behind (see the SQLite
   * backend), for another connection in this process (the request-log worker) to take too.
   */
  readonly fileMutex?: Mutex;
  /**
   * Runs fn while no other process migrates the same database, after making sure the
   * place the tables go into exists.
   */
  exclusivelyForMigration<T>(fn: () => Promise<T>): Promise<T>;
  /** Closes the connection or pool. */
  close(): Promise<void>;
}
