import { type Kysely, type Migration, PostgresAdapter, sql } from 'kysely';

/**
 * PostgreSQL: webhook_deliveries pages are left half empty. A claim changes only the lease
 * columns, which no index covers, so with room on the page PostgreSQL updates the row in place
 * (a HOT update) instead of writing a new row version elsewhere and a new entry in each of
 * the table's four indexes. Measured: the lease updates go from mostly not HOT to all HOT
 * (half of the table's updates; the other half, the outcome, leaves the pending index and
 * cannot be HOT). Existing pages keep their layout until they are rewritten. SQLite has no
 * such setting: nothing to do there.
 */
export const webhookDeliveriesFillfactor: Migration = {
  // biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's schema types
  async up(db: Kysely<any>): Promise<void> {
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`alter table webhook_deliveries set (fillfactor = 50)`.execute(db);
  },
};
