import { Migrator, sql } from 'kysely';
import type { Backend } from './backend.js';
import { KyselyStoreOps } from './kysely-store-ops.js';
import { migrationProvider } from './migrations/index.js';
import type { Mutex } from './mutex.js';
import { openPostgresBackend } from './postgres-backend.js';
import { openSqliteBackend } from './sqlite-backend.js';
import { openSqliteRequestLogWriter } from './sqlite-request-log-worker.js';
import { openSqliteWebhookOutbox } from './sqlite-webhook-outbox-worker.js';
import type { RequestLogBatchWriter, Store, StoreOps, StoreOptions, WebhookOutbox } from './types.js';
import { checkOnePerDelivery, completeSucceededPostgres } from './webhook-attempt-writes.js';

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/**
 * Opens the store: PostgreSQL for a `postgres://` url, otherwise SQLite at the given file
 * path (its directory is created) or `:memory:`. Call `migrate()` before first use.
 */
export async function createStore(options: StoreOptions): Promise<Store> {
  const backend = POSTGRES_URL.test(options.url)
    ? openPostgresBackend(options.url, options.schema)
    : openSqliteBackend(options.url);
  return new KyselyStore(backend);
}

class KyselyStore extends KyselyStoreOps implements Store {
  readonly dialect: Store['dialect'];
  readonly #backend: Backend;
  /** a plain field, not `#`: tests wrap the store in a Proxy, which private fields do not see through */
  private readonly sqliteFile: string | undefined;
  private readonly sqliteFileMutex: Mutex | undefined;

  constructor(backend: Backend) {
    super(backend.db, backend.dialect);
    this.dialect = backend.dialect;
    this.#backend = backend;
    this.sqliteFile = backend.file;
    this.sqliteFileMutex = backend.fileMutex;
  }

  /**
   * Runs fn in one transaction and commits when it resolves, rolls back when it throws.
   * Inside fn use only `tx`: on SQLite the store's other methods wait for the transaction's
   * connection, so calling them from fn would never finish.
   */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new KyselyStoreOps(trx, this.dialect)));
  }

  /** Brings the schema up to date. Idempotent, and safe to run from several processes at once. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider,
      ...(this.#backend.migrationTableSchema === undefined
        ? {}
        : { migrationTableSchema: this.#backend.migrationTableSchema }),
    });
    const { error, results } = await this.#backend.exclusivelyForMigration(() => migrator.migrateToLatest());
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(failed ? `migration ${failed} failed` : 'migration failed', { cause: error });
    }
  }

  /**
   * A SQLite file gets a writer on a worker thread with its own connection (the inserts
   * would otherwise run on the event loop); PostgreSQL (asynchronous already) and `:memory:`
   * write each batch in a transaction here.
   */
  openRequestLogWriter(): RequestLogBatchWriter {
    const file = this.sqliteFile;
    if (file !== undefined) return openSqliteRequestLogWriter(file, this.sqliteFileMutex);
    return {
      write: (rows) => this.transaction((tx) => tx.insertRequestLogs(rows)),
      close: async () => {},
    };
  }

  /**
   * A SQLite file gets a worker thread with its own connection; PostgreSQL (asynchronous
   * already) and `:memory:` run the store's own statements.
   */
  openWebhookOutbox(): WebhookOutbox {
    const file = this.sqliteFile;
    if (file !== undefined) return openSqliteWebhookOutbox(file, this.sqliteFileMutex);
    return {
      claim: (owner, now, limit, leaseMs, skip) =>
        this.claimWebhookAttempts(owner, now, limit, leaseMs, skip),
      completeSucceeded: async (inputs) => {
        if (inputs.length === 0) return [];
        checkOnePerDelivery(inputs);
        return this.dialect === 'postgres'
          ? completeSucceededPostgres(this.db, inputs)
          : this.transaction(async (tx) => {
              const recorded = await tx.completeWebhookAttempts(inputs);
              const done = new Set(recorded);
              const endpoints = new Set<string>();
              for (const c of inputs) if (done.has(c.attempt.deliveryId)) endpoints.add(c.attempt.endpointId);
              if (endpoints.size > 0) await tx.clearWebhookEndpointsFailing([...endpoints]);
              return recorded;
            });
      },
      close: async () => {},
    };
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}
