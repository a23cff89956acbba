import type { Kysely, Migration } from 'kysely';

/**
 * The request log: one row per request, written in batches. No foreign keys: a line outlives
 * the key and account it names, and a batch insert must not fail on a row deleted meanwhile.
 */
export const requestLogs: Migration = {
  // biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's schema types
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('request_logs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('account_id', 'text')
      .addColumn('key_id', 'text')
      .addColumn('mode', 'text')
      .addColumn('method', 'text', (c) => c.notNull())
      .addColumn('route', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('latency_ms', 'double precision', (c) => c.notNull())
      .addColumn('client_ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('error_code', 'text')
      .execute();
    // Each list is filtered by account or key and ordered newest first; the time index
    // serves the operator's unfiltered list and the retention job's delete of the oldest.
    await db.schema
      .createIndex('request_logs_account_created_idx')
      .on('request_logs')
      .columns(['account_id', 'created_at'])
      .execute();
    await db.schema
      .createIndex('request_logs_key_created_idx')
      .on('request_logs')
      .columns(['key_id', 'created_at'])
      .execute();
    await db.schema.createIndex('request_logs_created_idx').on('request_logs').column('created_at').execute();
  },
};
