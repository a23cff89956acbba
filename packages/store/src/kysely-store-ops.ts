import { auditHash, canonicalJson } from '@gatehouse/core';
import { type Kysely, sql, type Updateable } from 'kysely';
import { paginate } from './paginate.js';
import {
  accountColumns,
  auditColumns,
  keyColumns,
  requestLogColumns,
  toAccountRow,
  toAuditRow,
  toKeyRow,
  toRequestLogRow,
} from './rows.js';
import type { ApiKeysTable, Database } from './schema.js';
import { translatingConstraintErrors } from './store-constraint-error.js';
import type {
  AccountRow,
  AuditFilter,
  AuditInput,
  AuditRow,
  KeyFilter,
  KeyPatch,
  KeyRow,
  Page,
  PageQuery,
  RequestLogFilter,
  RequestLogRow,
  StoreOps,
} from './types.js';

/** Entries per UPDATE in touchKeys: 5 parameters each, well under every dialect's limit. */
const TOUCH_BATCH = 200;
const DEFAULT_AUDIT_BATCH = 500;
/** Rows per INSERT in insertRequestLogs: 12 parameters each, 6 000 per statement. */
const REQUEST_LOG_CHUNK = 500;

/** StoreOps over a Kysely instance: the pool itself, or one transaction. Dialect-free. */
export class KyselyStoreOps implements StoreOps {
  constructor(protected readonly db: Kysely<Database>) {}

  async insertAccount(row: AccountRow): Promise<void> {
    await translatingConstraintErrors(() =>
      this.db.insertInto('accounts').values(accountColumns(row)).execute(),
    );
  }

  async getAccount(id: string): Promise<AccountRow | undefined> {
    const r = await this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toAccountRow(r);
  }

  listAccounts(page: PageQuery): Promise<Page<AccountRow>> {
    return paginate(
      page,
      async (id) => id,
      async (bound, order, limit) => {
        let q = this.db.selectFrom('accounts').selectAll();
        if (bound) q = q.where('id', bound.op, bound.value);
        const rows = await q.orderBy('id', order).limit(limit).execute();
        return rows.map(toAccountRow);
      },
    );
  }

  async insertKey(row: KeyRow): Promise<void> {
    await translatingConstraintErrors(() => this.db.insertInto('api_keys').values(keyColumns(row)).execute());
  }

  async getKey(id: string): Promise<KeyRow | undefined> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toKeyRow(r);
  }

  async findKeyByHash(keyHash: string): Promise<KeyRow | undefined> {
    const r = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
    return r && toKeyRow(r);
  }

  /** Operator keys (type `admin`) are listed only when `filter.type` asks for them. */
  listKeys(filter: KeyFilter, page: PageQuery): Promise<Page<KeyRow>> {
    return paginate(
      page,
      async (id) => id,
      async (bound, order, limit) => {
        let q = this.db.selectFrom('api_keys').selectAll();
        if (filter.accountId !== undefined) q = q.where('account_id', '=', filter.accountId);
        if (filter.mode !== undefined) q = q.where('mode', '=', filter.mode);
        q = filter.type !== undefined ? q.where('type', '=', filter.type) : q.where('type', '<>', 'admin');
        if (bound) q = q.where('id', bound.op, bound.value);
        const rows = await q.orderBy('id', order).limit(limit).execute();
        return rows.map(toKeyRow);
      },
    );
  }

  /** Sets the fields present in the patch (null clears a nullable field); absent fields stay. */
  async updateKey(id: string, patch: KeyPatch): Promise<KeyRow | undefined> {
    const set = keyPatchColumns(patch);
    if (Object.keys(set).length === 0) return this.getKey(id);
    const r = await translatingConstraintErrors(() =>
      this.db.updateTable('api_keys').set(set).where('id', '=', id).returningAll().executeTakeFirst(),
    );
    return r && toKeyRow(r);
  }

  async touchKeys(entries: { id: string; at: number }[]): Promise<void> {
    // Several entries for one key collapse to the latest; one UPDATE per batch of keys.
    const latest = new Map<string, number>();
    for (const { id, at } of entries) {
      if (!Number.isSafeInteger(at)) throw new RangeError('touchKeys: at must be an integer (Unix ms)');
      const seen = latest.get(id);
      if (seen === undefined || at > seen) latest.set(id, at);
    }
    const all = [...latest];
    for (let i = 0; i < all.length; i += TOUCH_BATCH) {
      const batch = all.slice(i, i + TOUCH_BATCH);
      const at = sql<number>`case ${sql.ref('id')} ${sql.join(
        batch.map(([id, t]) => sql`when ${id} then cast(${t} as bigint)`),
        sql` `,
      )} end`;
      await this.db
        .updateTable('api_keys')
        .set({ last_used_at: at })
        .where(
          'id',
          'in',
          batch.map(([id]) => id),
        )
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
        .execute();
    }
  }

  async appendAudit(event: AuditInput): Promise<AuditRow> {
    if (this.db.isTransaction) return appendAuditIn(this.db, event);
    return this.db.transaction().execute((trx) => appendAuditIn(trx, event));
  }

  listAudit(filter: AuditFilter, page: PageQuery): Promise<Page<AuditRow>> {
    return paginate(
      page,
      async (id) =>
        (await this.db.selectFrom('audit_events').select('seq').where('id', '=', id).executeTakeFirst())?.seq,
      async (bound, order, limit) => {
        let q = this.db.selectFrom('audit_events').selectAll();
        if (filter.accountId !== undefined) q = q.where('account_id', '=', filter.accountId);
        if (filter.action !== undefined) q = q.where('action', '=', filter.action);
        if (bound) q = q.where('seq', bound.op, bound.value);
        const rows = await q.orderBy('seq', order).limit(limit).execute();
        return rows.map(toAuditRow);
      },
    );
  }

  async getAudit(id: string): Promise<AuditRow | undefined> {
    const r = await this.db.selectFrom('audit_events').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toAuditRow(r);
  }

  /** Keyset batches by seq: no connection is held between batches. */
  async *iterateAudit(batchSize = DEFAULT_AUDIT_BATCH): AsyncIterable<AuditRow> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1)
      throw new RangeError('batchSize must be a positive integer');
    let after = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '>', after)
        .orderBy('seq', 'asc')
        .limit(batchSize)
        .execute();
      for (const r of rows) yield toAuditRow(r);
      const last = rows.at(-1);
      if (!last || rows.length < batchSize) return;
      after = last.seq;
    }
  }

  async auditHead(): Promise<{ seq: number; hash: string }> {
    const head = await this.db
      .selectFrom('audit_head')
      .select(['seq', 'hash'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow(() => new Error('audit_head row missing: run migrate()'));
    return { seq: head.seq, hash: head.hash };
  }

  async insertRequestLogs(rows: readonly RequestLogRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += REQUEST_LOG_CHUNK) {
      const chunk = rows.slice(i, i + REQUEST_LOG_CHUNK).map(requestLogColumns);
      await this.db
        .insertInto('request_logs')
        .values(chunk)
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
  }

  /**
   * Ordered by (created_at, id), so the (account_id, created_at) and (key_id, created_at)
   * indexes serve both the filter and the order; the cursor is a request id, resolved to its
   * position within the same filter (a cursor from outside the filter gives an empty page).
   */
  listRequestLogs(filter: RequestLogFilter, page: PageQuery): Promise<Page<RequestLogRow>> {
    const filtered = () => {
      let q = this.db.selectFrom('request_logs');
      if (filter.accountId !== undefined) q = q.where('account_id', '=', filter.accountId);
      if (filter.keyId !== undefined) q = q.where('key_id', '=', filter.keyId);
      if (filter.mode !== undefined) q = q.where('mode', '=', filter.mode);
      if (filter.status !== undefined) q = q.where('status', '=', filter.status);
      if (filter.since !== undefined) q = q.where('created_at', '>=', filter.since);
      if (filter.until !== undefined) q = q.where('created_at', '<', filter.until);
      return q;
    };
    return paginate(
      page,
      async (id) => filtered().select(['created_at', 'id']).where('id', '=', id).executeTakeFirst(),
      async (bound, order, limit) => {
        let q = filtered().selectAll();
        if (bound) {
          const { created_at: at, id } = bound.value;
          q = q.where((eb) =>
            eb.or([
              eb('created_at', bound.op, at),
              eb.and([eb('created_at', '=', at), eb('id', bound.op, id)]),
            ]),
          );
        }
        const rows = await q.orderBy('created_at', order).orderBy('id', order).limit(limit).execute();
        return rows.map(toRequestLogRow);
      },
    );
  }

  async deleteRequestLogsBefore(before: number, limit: number): Promise<number> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    // A bounded delete by id keeps each statement (and its locks) short on both dialects.
    const oldest = this.db
      .selectFrom('request_logs')
      .select('id')
      .where('created_at', '<', before)
      .orderBy('created_at', 'asc')
      .limit(limit);
    const result = await this.db.deleteFrom('request_logs').where('id', 'in', oldest).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/**
 * The hash chain step, inside a transaction. Bumping the head row first takes its row lock
 * on PostgreSQL, so concurrent appenders queue here until this transaction ends and then
 * see its seq and hash; SQLite transactions are serial already. No dialect-specific SQL.
 */
async function appendAuditIn(trx: Kysely<Database>, event: AuditInput): Promise<AuditRow> {
  const head = await trx
    .updateTable('audit_head')
    .set((eb) => ({ seq: eb('seq', '+', 1) }))
    .where('id', '=', 1)
    .returning(['seq', 'hash'])
    .executeTakeFirstOrThrow(() => new Error('audit_head row missing: run migrate()'));
  // Hash exactly what a later reader will parse back from the stored canonical JSON.
  const data = JSON.parse(canonicalJson(event.data)) as Record<string, unknown>;
  const chained = {
    id: event.id,
    seq: head.seq,
    createdAt: event.createdAt,
    accountId: event.accountId,
    actorType: event.actorType,
    actorId: event.actorId,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    data,
    ip: event.ip,
    requestId: event.requestId,
    prevHash: head.hash,
  };
  const row: AuditRow = { ...chained, hash: auditHash(head.hash, chained) };
  await translatingConstraintErrors(() => trx.insertInto('audit_events').values(auditColumns(row)).execute());
  await trx.updateTable('audit_head').set({ hash: row.hash }).where('id', '=', 1).execute();
  return row;
}

function keyPatchColumns(patch: KeyPatch): Updateable<ApiKeysTable> {
  const set: Updateable<ApiKeysTable> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.scopes !== undefined) set.scopes = canonicalJson(patch.scopes);
  if (patch.ipAllowlist !== undefined) set.ip_allowlist = canonicalJson(patch.ipAllowlist);
  if (patch.rateLimits !== undefined) {
    set.rate_limits = patch.rateLimits === null ? null : canonicalJson(patch.rateLimits);
  }
  if (patch.metadata !== undefined) set.metadata = canonicalJson(patch.metadata);
  if (patch.expiresAt !== undefined) set.expires_at = patch.expiresAt;
  if (patch.revokedAt !== undefined) set.revoked_at = patch.revokedAt;
  if (patch.revokedReason !== undefined) set.revoked_reason = patch.revokedReason;
  if (patch.rolledTo !== undefined) set.rolled_to = patch.rolledTo;
  if (patch.keyHash !== undefined) set.key_hash = patch.keyHash;
  if (patch.pepperVersion !== undefined) set.pepper_version = patch.pepperVersion;
  return set;
}
