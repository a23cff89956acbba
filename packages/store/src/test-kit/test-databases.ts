import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createStore } from '../create-store.js';
import { dropPostgresSchema } from '../postgres-backend.js';
import type { Store } from '../types.js';

/** Empty databases for one dialect, each opened by as many Stores (connections, pools) as a test wants. */
export interface TestDatabases {
  readonly dialect: Store['dialect'];
  /** A new, empty database: a fresh SQLite file or PostgreSQL schema. */
  create(): Promise<TestDatabase>;
  /** Closes every Store opened and removes every database created. */
  dropAll(): Promise<void>;
}

export interface TestDatabase {
  /** A new Store on this database, with its own connection (SQLite) or pool (PostgreSQL). */
  open(): Promise<Store>;
}

function tracking(
  dialect: Store['dialect'],
  newDatabase: () => Promise<{ options: Parameters<typeof createStore>[0] }>,
  drop: () => Promise<void>,
): TestDatabases {
  const stores: Store[] = [];
  return {
    dialect,
    async create() {
      const { options } = await newDatabase();
      return {
        async open() {
          const store = await createStore(options);
          stores.push(store);
          return store;
        },
      };
    },
    async dropAll() {
      await Promise.allSettled(stores.splice(0).map((s) => s.close()));
      await drop();
    },
  };
}

/** SQLite files in a temporary directory (each in a sub-directory that does not exist yet). */
export function sqliteTestDatabases(): TestDatabases {
  let dir: string | undefined;
  return tracking(
    'sqlite',
    async () => {
      dir ??= mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
      return { options: { url: join(dir, randomBytes(4).toString('hex'), 'gatehouse.db') } };
    },
    async () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  );
}

/** One `gh_test_<random hex>` schema per database in the PostgreSQL test database. */
export function postgresTestDatabases(url: string): TestDatabases {
  const schemas: string[] = [];
  return tracking(
    'postgres',
    async () => {
      const schema = `gh_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return { options: { url, schema } };
    },
    async () => {
      for (const schema of schemas.splice(0)) await dropPostgresSchema(url, schema);
    },
  );
}

export const postgresTestUrl =
  process.env['GATEHOUSE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used for tests, or undefined when it answers. Never echoes the url. */
export async function postgresUnavailable(url = postgresTestUrl): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * What a PostgreSQL suite does when the server is down: under CI=true it must fail, so
 * `skip` is false and `failure` is set (throw it in beforeAll); locally it is skipped with
 * a warning.
 */
export async function postgresSuiteGate(
  suite: string,
): Promise<{ skip: boolean; failure: Error | undefined }> {
  const problem = await postgresUnavailable();
  if (problem === undefined) return { skip: false, failure: undefined };
  if (process.env['CI'] === 'true') {
    return {
      skip: false,
      failure: new Error(`${suite}: PostgreSQL is unreachable and CI=true (${problem})`),
    };
  }
  console.warn(`${suite}: skipped, PostgreSQL is unreachable (${problem}); set GATEHOUSE_TEST_DATABASE_URL`);
  return { skip: true, failure: undefined };
}
