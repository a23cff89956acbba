import type { KeyMode } from '@gatehouse/contract';
import { auditHash, canonicalJson } from '@gatehouse/core';
import { type Kysely, sql, type Updateable } from 'kysely';
import { paginate } from './paginate.js';
import { insertRequestLogRows } from './request-log-insert.js';
import {
  accountColumns,
  auditColumns,
  eventColumns,
  keyColumns,
  toAccountRow,
  toAuditRow,
  toEventRow,
  toKeyRow,
  toRequestLogRow,
  toWebhookAttemptRow,
  toWebhookDeliveryRow,
  toWebhookEndpointRow,
  webhookDeliveryColumns,
  webhookEndpointColumns,
} from './rows.js';
import type { ApiKeysTable, Database, WebhookDeliveriesTable, WebhookEndpointsTable } from './schema.js';
import { translatingConstraintErrors } from './store-constraint-error.js';
import type {
  AccountRow,
  AuditFilter,
  AuditInput,
  AuditRow,
  ClaimedWebhookAttempts,
  CompleteAttemptInput,
  EventFilter,
  EventRow,
  KeyFilter,
  KeyPatch,
  KeyRow,
  Page,
  PageQuery,
  RequestLogFilter,
  RequestLogRow,
  RequeueFilter,
  StoreOps,
  WebhookAttemptRow,
  WebhookDeliveryFilter,
  WebhookDeliveryRow,
  WebhookEndpointFilter,
  WebhookEndpointPatch,
  WebhookEndpointRow,
} from './types.js';
import {
  checkClaim,
  checkOnePerDelivery,
  claimWebhookAttemptRows,
  completeWebhookAttemptRows,
  inDueOrder,
} from './webhook-attempt-writes.js';

/** Entries per UPDATE in touchKeys: 5 parameters each, well under every dialect's limit. */
const TOUCH_BATCH = 200;
const DEFAULT_AUDIT_BATCH = 500;
/** Rows per INSERT in insertWebhookDeliveries: 15 parameters each. */
const DELIVERY_CHUNK = 500;
/** Ids per IN list when reading attempts, events or endpoints by id. */
const ATTEMPT_ID_CHUNK = 500;

/** StoreOps over a Kysely instance: the pool itself, or one transaction. Dialect-free. */
export class KyselyStoreOps implements StoreOps {
  /**
   * `sqlDialect` is used only where the databases really differ: PostgreSQL's row locks for
   * the webhook claim (`FOR UPDATE SKIP LOCKED`), which SQLite neither has nor needs.
   */
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly sqlDialect: 'sqlite' | 'postgres',
  ) {}

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

  insertRequestLogs(rows: readonly RequestLogRow[]): Promise<void> {
    return insertRequestLogRows(this.db, this.sqlDialect, rows);
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

  async insertWebhookEndpoint(row: WebhookEndpointRow): Promise<void> {
    await translatingConstraintErrors(() =>
      this.db.insertInto('webhook_endpoints').values(webhookEndpointColumns(row)).execute(),
    );
  }

  async getWebhookEndpoint(id: string): Promise<WebhookEndpointRow | undefined> {
    const r = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r && toWebhookEndpointRow(r);
  }

  async getWebhookEndpoints(ids: readonly string[]): Promise<WebhookEndpointRow[]> {
    const out: WebhookEndpointRow[] = [];
    for (let i = 0; i < ids.length; i += ATTEMPT_ID_CHUNK) {
      const rows = await this.db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + ATTEMPT_ID_CHUNK))
        .execute();
      out.push(...rows.map(toWebhookEndpointRow));
    }
    return out;
  }

  async clearWebhookEndpointsFailing(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ATTEMPT_ID_CHUNK) {
      await this.db
        .updateTable('webhook_endpoints')
        .set({ failing_since: null })
        .where('id', 'in', ids.slice(i, i + ATTEMPT_ID_CHUNK))
        .where('failing_since', 'is not', null)
        .execute();
    }
  }

  listWebhookEndpoints(filter: WebhookEndpointFilter, page: PageQuery): Promise<Page<WebhookEndpointRow>> {
    return paginate(
      page,
      async (id) => id,
      async (bound, order, limit) => {
        let q = this.db.selectFrom('webhook_endpoints').selectAll();
        if (filter.accountId !== undefined) q = q.where('account_id', '=', filter.accountId);
        if (filter.mode !== undefined) q = q.where('mode', '=', filter.mode);
        if (filter.status !== undefined) q = q.where('status', '=', filter.status);
        if (bound) q = q.where('id', bound.op, bound.value);
        const rows = await q.orderBy('id', order).limit(limit).execute();
        return rows.map(toWebhookEndpointRow);
      },
    );
  }

  async enabledWebhookEndpoints(accountId: string, mode: KeyMode): Promise<WebhookEndpointRow[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('mode', '=', mode)
      .where('status', '=', 'enabled')
      .orderBy('id', 'asc')
      .execute();
    return rows.map(toWebhookEndpointRow);
  }

  async updateWebhookEndpoint(
    id: string,
    patch: WebhookEndpointPatch,
  ): Promise<WebhookEndpointRow | undefined> {
    const set = webhookEndpointPatchColumns(patch);
    if (Object.keys(set).length === 0) return this.getWebhookEndpoint(id);
    const r = await this.db
      .updateTable('webhook_endpoints')
      .set(set)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return r && toWebhookEndpointRow(r);
  }

  async deleteWebhookEndpoint(id: string): Promise<boolean> {
    // Deliveries and attempts go by ON DELETE CASCADE.
    const result = await this.db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async insertEvent(row: EventRow): Promise<void> {
    await translatingConstraintErrors(() => this.db.insertInto('events').values(eventColumns(row)).execute());
  }

  async getEvent(id: string): Promise<EventRow | undefined> {
    const r = await this.db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toEventRow(r);
  }

  async getEventForUpdate(id: string): Promise<EventRow | undefined> {
    const r = await this.db
      .selectFrom('events')
      .selectAll()
      .where('id', '=', id)
      .$if(this.sqlDialect === 'postgres', (q) => q.forUpdate())
      .executeTakeFirst();
    return r && toEventRow(r);
  }

  async getEvents(ids: readonly string[]): Promise<EventRow[]> {
    const out: EventRow[] = [];
    for (let i = 0; i < ids.length; i += ATTEMPT_ID_CHUNK) {
      const rows = await this.db
        .selectFrom('events')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + ATTEMPT_ID_CHUNK))
        .execute();
      out.push(...rows.map(toEventRow));
    }
    return out;
  }

  listEvents(filter: EventFilter, page: PageQuery): Promise<Page<EventRow>> {
    return paginate(
      page,
      async (id) => id,
      async (bound, order, limit) => {
        let q = this.db.selectFrom('events').selectAll();
        if (filter.accountId !== undefined) q = q.where('account_id', '=', filter.accountId);
        if (filter.mode !== undefined) q = q.where('mode', '=', filter.mode);
        if (filter.type !== undefined) q = q.where('type', '=', filter.type);
        if (bound) q = q.where('id', bound.op, bound.value);
        const rows = await q.orderBy('id', order).limit(limit).execute();
        return rows.map(toEventRow);
      },
    );
  }

  async insertWebhookDeliveries(rows: readonly WebhookDeliveryRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += DELIVERY_CHUNK) {
      const chunk = rows.slice(i, i + DELIVERY_CHUNK).map(webhookDeliveryColumns);
      await translatingConstraintErrors(() =>
        this.db.insertInto('webhook_deliveries').values(chunk).execute(),
      );
    }
  }

  async getWebhookDelivery(id: string): Promise<WebhookDeliveryRow | undefined> {
    const r = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r && toWebhookDeliveryRow(r);
  }

  listWebhookDeliveries(filter: WebhookDeliveryFilter, page: PageQuery): Promise<Page<WebhookDeliveryRow>> {
    return paginate(
      page,
      async (id) => id,
      async (bound, order, limit) => {
        let q = this.db.selectFrom('webhook_deliveries').selectAll();
        if (filter.endpointId !== undefined) q = q.where('endpoint_id', '=', filter.endpointId);
        if (filter.eventId !== undefined) q = q.where('event_id', '=', filter.eventId);
        if (filter.status !== undefined) q = q.where('status', '=', filter.status);
        if (bound) q = q.where('id', bound.op, bound.value);
        const rows = await q.orderBy('id', order).limit(limit).execute();
        return rows.map(toWebhookDeliveryRow);
      },
    );
  }

  /** The attempts moved to `webhook_attempts`, and each delivery's latest from its own row. */
  async listWebhookAttempts(deliveryIds: readonly string[]): Promise<WebhookAttemptRow[]> {
    const out: WebhookAttemptRow[] = [];
    for (let i = 0; i < deliveryIds.length; i += ATTEMPT_ID_CHUNK) {
      const chunk = deliveryIds.slice(i, i + ATTEMPT_ID_CHUNK);
      const moved = (
        await this.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', chunk).execute()
      ).map(toWebhookAttemptRow);
      const have = new Set(moved.map((a) => `${a.deliveryId} ${a.attempt}`));
      const latest = await this.db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('id', 'in', chunk)
        .where('last_succeeded', 'is not', null)
        .where('attempts', '>', 0)
        .execute();
      out.push(
        ...moved,
        ...latest.map(latestAttemptOf).filter((a) => !have.has(`${a.deliveryId} ${a.attempt}`)),
      );
    }
    return out.sort((a, b) =>
      a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : a.attempt - b.attempt,
    );
  }

  /**
   * One UPDATE over a sub-select of due rows. On PostgreSQL the sub-select takes row locks
   * with SKIP LOCKED, so a concurrent claimer passes over rows being claimed instead of
   * waiting for them and then re-checking (the statement runs with bitmap scans off: see
   * inDueOrder); on SQLite the statement runs in an immediate transaction, which already
   * excludes every other writer.
   */
  async claimDueWebhookDeliveries(
    owner: string,
    now: number,
    limit: number,
    leaseMs: number,
  ): Promise<WebhookDeliveryRow[]> {
    checkClaim(limit, leaseMs);
    const claim = async (db: Kysely<Database>) => {
      const due = db
        .selectFrom('webhook_deliveries')
        .select('id')
        // a literal, not a parameter: both planners then match the partial index on pending rows
        .where(sql.ref('status'), '=', sql.lit('pending'))
        .where('next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        .orderBy('next_attempt_at', 'asc')
        .limit(limit)
        .$if(this.sqlDialect === 'postgres', (q) => q.forUpdate().skipLocked());
      return db
        .updateTable('webhook_deliveries')
        .set({ lease_owner: owner, lease_until: now + leaseMs })
        .where('id', 'in', due)
        .returningAll()
        .execute();
    };
    // PostgreSQL: one statement, with the planner setting of inDueOrder (a transaction of its
    // own, or the caller's); SQLite takes its write lock up front in a transaction.
    const rows =
      this.sqlDialect === 'postgres'
        ? await inDueOrder(this.db, claim)
        : this.db.isTransaction
          ? await claim(this.db)
          : await this.db.transaction().execute(claim);
    return rows.map(toWebhookDeliveryRow).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0));
  }

  async claimWebhookAttempts(
    owner: string,
    now: number,
    limit: number,
    leaseMs: number,
    skipEndpoints: readonly string[] = [],
  ): Promise<ClaimedWebhookAttempts> {
    checkClaim(limit, leaseMs);
    const claim = (db: Kysely<Database>) =>
      claimWebhookAttemptRows(db, this.sqlDialect, owner, now, limit, leaseMs, skipEndpoints);
    // PostgreSQL: claimWebhookAttemptRows runs in a transaction of its own (see inDueOrder);
    // SQLite takes its write lock up front in a transaction.
    return this.db.isTransaction || this.sqlDialect === 'postgres'
      ? claim(this.db)
      : this.db.transaction().execute(claim);
  }

  async completeWebhookAttempt(input: CompleteAttemptInput): Promise<boolean> {
    return (await this.completeWebhookAttempts([input])).length === 1;
  }

  async completeWebhookAttempts(inputs: readonly CompleteAttemptInput[]): Promise<string[]> {
    if (inputs.length === 0) return [];
    checkOnePerDelivery(inputs);
    const complete = (db: Kysely<Database>) => completeWebhookAttemptRows(db, this.sqlDialect, inputs);
    return this.db.isTransaction ? complete(this.db) : this.db.transaction().execute(complete);
  }

  async releaseWebhookLeases(owner: string, ids: readonly string[], nextAttemptAt?: number): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({
        lease_owner: null,
        lease_until: null,
        ...(nextAttemptAt !== undefined ? { next_attempt_at: nextAttemptAt } : {}),
      })
      .where('id', 'in', [...ids])
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async requeueWebhookDeliveries(filter: RequeueFilter, now: number, limit: number): Promise<number> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    let requeued = 0;
    // pending ones first, so the finished ones made pending below are not counted twice
    if (filter.statuses.includes('pending')) {
      // waiting for a retry: due now, attempts kept; one being attempted (leased) is left to finish
      const waiting = this.requeueCandidates(filter)
        .where(sql.ref('status'), '=', sql.lit('pending'))
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]));
      const result = await this.db
        .updateTable('webhook_deliveries')
        // one already due keeps its place in the queue
        .set({
          next_attempt_at: sql<number>`case when next_attempt_at > ${now} then ${now} else next_attempt_at end`,
        })
        .where('id', 'in', waiting.orderBy('id', 'asc').limit(limit))
        .executeTakeFirst();
      requeued += Number(result.numUpdatedRows);
    }
    const finished = filter.statuses.filter((status) => status !== 'pending');
    if (finished.length > 0 && requeued < limit) {
      const chosen = this.requeueCandidates(filter).where('status', 'in', finished);
      const result = await this.db
        .updateTable('webhook_deliveries')
        .set({
          status: 'pending',
          next_attempt_at: now,
          completed_at: null,
          lease_owner: null,
          lease_until: null,
        })
        .where('id', 'in', chosen.orderBy('id', 'asc').limit(limit - requeued))
        .executeTakeFirst();
      requeued += Number(result.numUpdatedRows);
    }
    return requeued;
  }

  /** The deliveries a requeue may touch, whatever their status. */
  private requeueCandidates(filter: RequeueFilter) {
    let chosen = this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      // a disabled endpoint is sent nothing until it is enabled again
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('webhook_endpoints')
            .select('webhook_endpoints.id')
            .whereRef('webhook_endpoints.id', '=', 'webhook_deliveries.endpoint_id')
            .where('webhook_endpoints.status', '=', 'enabled'),
        ),
      );
    if (filter.endpointId !== undefined) chosen = chosen.where('endpoint_id', '=', filter.endpointId);
    if (filter.eventId !== undefined) chosen = chosen.where('event_id', '=', filter.eventId);
    const since = filter.since;
    if (since !== undefined)
      // the event's time, not the delivery's: a delivery made by a later redelivery is as old as its event
      chosen = chosen.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('events')
            .select('events.id')
            .whereRef('events.id', '=', 'webhook_deliveries.event_id')
            .where('events.created_at', '>=', since),
        ),
      );
    return chosen;
  }

  async keysDueExpiryNotice(
    threshold: string,
    now: number,
    withinMs: number,
    limit: number,
  ): Promise<KeyRow[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('expires_at', '>', now)
      .where('expires_at', '<=', now + withinMs)
      .where('revoked_at', 'is', null)
      .where('type', '<>', 'admin')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('key_expiry_notices')
              .select('key_id')
              .whereRef('key_expiry_notices.key_id', '=', 'api_keys.id')
              .whereRef('key_expiry_notices.expires_at', '=', 'api_keys.expires_at')
              .where('key_expiry_notices.threshold', '=', threshold),
          ),
        ),
      )
      .orderBy('expires_at', 'asc')
      .limit(limit)
      .execute();
    return rows.map(toKeyRow);
  }

  async recordKeyExpiryNotice(notice: {
    keyId: string;
    threshold: string;
    expiresAt: number;
    createdAt: number;
  }): Promise<boolean> {
    const result = await this.db
      .insertInto('key_expiry_notices')
      .values({
        key_id: notice.keyId,
        threshold: notice.threshold,
        expires_at: notice.expiresAt,
        created_at: notice.createdAt,
      })
      .onConflict((oc) => oc.columns(['key_id', 'threshold', 'expires_at']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async abandonWebhookDeliveries(endpointId: string, now: number): Promise<number> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({
        status: 'abandoned',
        next_attempt_at: null,
        completed_at: now,
        lease_owner: null,
        lease_until: null,
      })
      .where('endpoint_id', '=', endpointId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
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

function webhookEndpointPatchColumns(patch: WebhookEndpointPatch): Updateable<WebhookEndpointsTable> {
  const set: Updateable<WebhookEndpointsTable> = {};
  if (patch.url !== undefined) set.url = patch.url;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.enabledEvents !== undefined) set.enabled_events = canonicalJson(patch.enabledEvents);
  if (patch.status !== undefined) set.status = patch.status;
  if (patch.disabledReason !== undefined) set.disabled_reason = patch.disabledReason;
  if (patch.secret !== undefined) set.secret = patch.secret;
  if (patch.publicKey !== undefined) set.public_key = patch.publicKey;
  if (patch.previousSecret !== undefined) set.previous_secret = patch.previousSecret;
  if (patch.previousSecretExpiresAt !== undefined)
    set.previous_secret_expires_at = patch.previousSecretExpiresAt;
  if (patch.rateLimitPerSecond !== undefined) set.rate_limit_per_second = patch.rateLimitPerSecond;
  if (patch.metadata !== undefined) set.metadata = canonicalJson(patch.metadata);
  if (patch.failingSince !== undefined) set.failing_since = patch.failingSince;
  if (patch.updatedAt !== undefined) set.updated_at = patch.updatedAt;
  return set;
}

/** A delivery's latest attempt, recorded on its own row (see migration 0005). */
function latestAttemptOf(r: WebhookDeliveriesTable): WebhookAttemptRow {
  return {
    deliveryId: r.id,
    attempt: r.attempts,
    endpointId: r.endpoint_id,
    startedAt: r.last_attempt_at ?? 0,
    statusCode: r.last_status_code,
    latencyMs: r.last_latency_ms ?? 0,
    responseExcerpt: r.last_excerpt,
    errorCode: r.last_error,
    succeeded: Number(r.last_succeeded) === 1,
  };
}
