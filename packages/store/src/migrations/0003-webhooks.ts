import type { Kysely, Migration } from 'kysely';

/**
 * Webhooks: endpoints (secrets encrypted), events, the delivery outbox and one row per
 * attempt. An event and its deliveries are written in one transaction, so a delivery exists
 * exactly when its event does; the dispatcher claims due deliveries with a lease.
 */
export const webhooks: Migration = {
  // biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's schema types
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('webhook_endpoints')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('enabled_events', 'text', (c) => c.notNull())
      .addColumn('signing', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('disabled_reason', 'text')
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text')
      .addColumn('previous_secret', 'text')
      .addColumn('previous_secret_expires_at', 'bigint')
      .addColumn('rate_limit_per_second', 'integer')
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('failing_since', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('webhook_endpoints_account_mode_id_idx')
      .on('webhook_endpoints')
      .columns(['account_id', 'mode', 'id'])
      .execute();

    // No foreign key to accounts: an event outlives nothing it names, like the audit trail.
    await db.schema
      .createTable('events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('events_account_mode_id_idx')
      .on('events')
      .columns(['account_id', 'mode', 'id'])
      .execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull().references('events.id'))
      .addColumn('endpoint_id', 'text', (c) =>
        c.notNull().references('webhook_endpoints.id').onDelete('cascade'),
      )
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint')
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('last_attempt_at', 'bigint')
      .addColumn('last_status_code', 'integer')
      .addColumn('last_latency_ms', 'double precision')
      .addColumn('last_error', 'text')
      .addColumn('last_excerpt', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('completed_at', 'bigint')
      .execute();
    // The claim: pending rows ordered by when they are due.
    await db.schema
      .createIndex('webhook_deliveries_due_idx')
      .on('webhook_deliveries')
      .columns(['status', 'next_attempt_at'])
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_endpoint_id_idx')
      .on('webhook_deliveries')
      .columns(['endpoint_id', 'id'])
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_event_idx')
      .on('webhook_deliveries')
      .column('event_id')
      .execute();

    await db.schema
      .createTable('webhook_attempts')
      .addColumn('delivery_id', 'text', (c) =>
        c.notNull().references('webhook_deliveries.id').onDelete('cascade'),
      )
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('endpoint_id', 'text', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('latency_ms', 'double precision', (c) => c.notNull())
      .addColumn('response_excerpt', 'text')
      .addColumn('error_code', 'text')
      .addColumn('succeeded', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt'])
      .execute();
  },
};
