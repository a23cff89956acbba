import { type Kysely, type Migration, sql } from 'kysely';

/**
 * The outbox row carries its latest attempt. `last_succeeded` completes the `last_*` columns
 * into a whole attempt record, so finishing an attempt is one UPDATE of the delivery instead
 * of an UPDATE and an INSERT; `webhook_attempts` keeps the earlier attempts, moved there when
 * the next one is recorded. Rows finished before this migration have `last_succeeded` null and
 * all their attempts in `webhook_attempts` already.
 *
 * The claim's index holds only pending deliveries: a delivery that finishes leaves it (one
 * index delete, no insert), and the claim scans only what can still be sent.
 */
export const webhookOutboxAttempt: Migration = {
  // biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's schema types
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('webhook_deliveries').addColumn('last_succeeded', 'integer').execute();
    await db.schema.dropIndex('webhook_deliveries_due_idx').execute();
    await db.schema
      .createIndex('webhook_deliveries_pending_due_idx')
      .on('webhook_deliveries')
      .column('next_attempt_at')
      .where(sql.ref('status'), '=', sql.lit('pending'))
      .execute();
  },
};
