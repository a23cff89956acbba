import type { Kysely, Migration } from 'kysely';

/**
 * One row per `key.expiring` notice sent (7 days and 1 day before a key's expiry or the end
 * of a roll's grace period). The expiry time is part of the key: a key whose expiry moves
 * is told again about the new time. Several instances may run the job; the primary key lets
 * only one of them publish each notice.
 */
export const keyExpiryNotices: Migration = {
  // biome-ignore lint/suspicious/noExplicitAny: a migration must not depend on today's schema types
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('key_expiry_notices')
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('threshold', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('key_expiry_notices_pk', ['key_id', 'threshold', 'expires_at'])
      .execute();
    await db.schema.createIndex('api_keys_expires_at_idx').on('api_keys').column('expires_at').execute();
  },
};
