import { closeSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely';
import type { Backend } from './backend.js';
import { Mutex } from './mutex.js';
import type { Database } from './schema.js';

/**
 * Opens a SQLite file (or `:memory:`) with better-sqlite3: WAL, foreign keys on, a 5 s busy
 * timeout and `synchronous=NORMAL` (in WAL mode: never corrupt, durable at checkpoints).
 */
export function openSqliteBackend(url: string): Backend {
  const memory = url === ':memory:';
  if (!memory) {
    mkdirSync(dirname(resolve(url)), { recursive: true });
    // a new database file is readable by its owner only; SQLite gives its -wal and -shm files
    // the same mode (an existing file keeps the mode it has)
    closeSync(openSync(url, 'a', 0o600));
  }
  const database = new BetterSqlite3(url, { timeout: 5000 });
  try {
    database.pragma('journal_mode = WAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    database.pragma('synchronous = NORMAL');
  } catch (error) {
    database.close();
    throw error;
  }
  const lease = memory ? { mutex: new Mutex(), release: () => {} } : leaseFileMutex(realpathSync(url));
  const db = new Kysely<Database>({
    dialect: new GatehouseSqliteDialect({ database: cachingStatements(database) }, lease.mutex),
  });
  return {
    dialect: 'sqlite',
    db,
    migrationTableSchema: undefined,
    ...(memory ? {} : { file: resolve(url), fileMutex: lease.mutex }),
    // SQLite serialises writers itself: the migrations run in one BEGIN IMMEDIATE transaction.
    exclusivelyForMigration: (fn) => fn(),
    async close() {
      await db.destroy();
      lease.release();
    },
  };
}

/** Distinct SQL texts whose prepared statements are kept (least recently used dropped first). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The database as Kysely sees it, with prepared statements reused by SQL text. Kysely
 * prepares every query it runs, and preparing costs more than running a small query (a
 * key lookup, a batch of request-log lines). Reuse is safe here: one connection runs one
 * query at a time (the driver's mutex), and `all`/`run` finish before they return.
 */
function cachingStatements(database: BetterSqlite3.Database): SqliteDialectConfig['database'] {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sqlText: string) {
      let statement = statements.get(sqlText);
      if (statement === undefined) {
        statement = database.prepare(sqlText);
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          const oldest = statements.keys().next();
          if (!oldest.done) statements.delete(oldest.value);
        }
      } else statements.delete(sqlText);
      statements.set(sqlText, statement);
      return statement;
    },
    close() {
      statements.clear();
      database.close();
    },
  };
}

/**
 * One mutex per database file for the whole process. better-sqlite3 waits out a busy lock
 * synchronously, blocking the event loop: a second connection in the same process that
 * waits for the first one's transaction would stop that transaction from ever finishing
 * (until SQLITE_BUSY after the timeout). So connections to the same file in one process
 * take turns here, and only other processes meet SQLite's own lock and busy timeout.
 */
const fileMutexes = new Map<string, { mutex: Mutex; users: number }>();

function leaseFileMutex(file: string): { mutex: Mutex; release: () => void } {
  let entry = fileMutexes.get(file);
  if (!entry) {
    entry = { mutex: new Mutex(), users: 0 };
    fileMutexes.set(file, entry);
  }
  entry.users++;
  const leased = entry;
  let released = false;
  return {
    mutex: leased.mutex,
    release() {
      if (released) return;
      released = true;
      if (--leased.users === 0) fileMutexes.delete(file);
    },
  };
}

class GatehouseSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #mutex: Mutex;

  constructor(config: SqliteDialectConfig, mutex: Mutex) {
    super(config);
    this.#config = config;
    this.#mutex = mutex;
  }

  override createDriver(): Driver {
    return new GatehouseSqliteDriver(this.#config, this.#mutex);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class GatehouseSqliteDriver extends SqliteDriver {
  readonly #mutex: Mutex;
  #release: (() => void) | undefined;

  constructor(config: SqliteDialectConfig, mutex: Mutex) {
    super(config);
    this.#mutex = mutex;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock();
    try {
      const connection = await super.acquireConnection();
      this.#release = release;
      return connection;
    } catch (error) {
      release();
      throw error;
    }
  }

  override async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    try {
      await super.releaseConnection();
    } finally {
      release?.();
    }
  }

  /**
   * Every store transaction writes, so take the write lock up front: a deferred transaction
   * that reads first and writes later fails with SQLITE_BUSY (no busy wait) when another
   * process wrote in between.
   */
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * SQLite's DDL is transactional; saying so makes Kysely's Migrator run the pending
 * migrations in one transaction (BEGIN IMMEDIATE above), which serialises concurrent
 * migrate() calls from several processes and leaves nothing half-done on failure.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
