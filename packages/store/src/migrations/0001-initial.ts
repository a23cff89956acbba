import { GENESIS_HASH } from '@gatehouse/core';
import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Accounts, API keys and the audit chain. Written once against the schema as it was then,
 * so it takes an untyped Kysely: later schema types must not change what it does.
 */
export const initial: Migration = {
  // biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's schema types
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('max_key_age_days', 'integer', (c) => c.notNull())
      .addColumn('rate_limits', 'text')
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.references('accounts.id'))
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('mode', 'text')
      .addColumn('name', 'text')
      .addColumn('key_hash', 'text', (c) => c.notNull())
      .addColumn('pepper_version', 'integer', (c) => c.notNull())
      .addColumn('hint', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('ip_allowlist', 'text', (c) => c.notNull())
      .addColumn('rate_limits', 'text')
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('revoked_reason', 'text')
      .addColumn('rolled_to', 'text')
      .execute();
    await db.schema
      .createIndex('api_keys_key_hash_unique')
      .on('api_keys')
      .column('key_hash')
      .unique()
      .execute();
    await db.schema
      .createIndex('api_keys_account_mode_id_idx')
      .on('api_keys')
      .columns(['account_id', 'mode', 'id'])
      .execute();

    // No foreign key to accounts: the audit trail outlives what it describes.
    await db.schema
      .createTable('audit_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('account_id', 'text')
      .addColumn('actor_type', 'text', (c) => c.notNull())
      .addColumn('actor_id', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text')
      .addColumn('target_id', 'text')
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('ip', 'text')
      .addColumn('request_id', 'text')
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('audit_events_seq_unique')
      .on('audit_events')
      .column('seq')
      .unique()
      .execute();
    // account_id first serves the account filter; seq second serves its newest-first order.
    await db.schema
      .createIndex('audit_events_account_seq_idx')
      .on('audit_events')
      .columns(['account_id', 'seq'])
      .execute();

    await db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addCheckConstraint('audit_head_single_row', sql`id = 1`)
      .execute();
    await db.insertInto('audit_head').values({ id: 1, seq: 0, hash: GENESIS_HASH }).execute();
  },
};
