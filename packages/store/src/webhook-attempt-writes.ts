import { CompiledQuery, type Kysely, sql } from 'kysely';
import { toEventRow, toWebhookEndpointRow } from './rows.js';
import type { Database, EventsTable, WebhookEndpointsTable } from './schema.js';
import type { ClaimedWebhookAttempts, CompleteAttemptInput, WebhookDeliveryStatus } from './types.js';

// The dispatcher records attempts at the delivery rate, so these statements have fixed texts
// (prepared once: see the SQLite backend's statement cache) instead of a query built per batch.

/** SQLite: one prepared UPDATE per delivery, all inside the caller's transaction. */
export const SQLITE_COMPLETE = `update webhook_deliveries
  set status = ?, attempts = ?, next_attempt_at = ?, completed_at = ?, lease_owner = null,
    lease_until = null, last_attempt_at = ?, last_status_code = ?, last_latency_ms = ?,
    last_error = ?, last_excerpt = ?, last_succeeded = ?
  where id = ? and lease_owner = ? and status = 'pending'`;

/** SQLite: the delivery's previous attempt (on its row) moves to the attempt history. */
export const SQLITE_ARCHIVE = `insert into webhook_attempts (delivery_id, attempt, endpoint_id, started_at,
    status_code, latency_ms, response_excerpt, error_code, succeeded)
  select id, attempts, endpoint_id, last_attempt_at, last_status_code, last_latency_ms,
    last_excerpt, last_error, last_succeeded
  from webhook_deliveries
  where id = ? and lease_owner = ? and status = 'pending' and attempts > 0
    and last_succeeded is not null
  on conflict (delivery_id, attempt) do nothing`;

/**
 * PostgreSQL: one statement per batch. The columns travel as arrays and `unnest` turns them
 * back into rows; `id = any($1)` lets the planner find the rows by primary key.
 *
 * "Still pending" is spelled as "in none of the finished states" (the same rows: those are the
 * only other statuses) so that the planner cannot answer it from the pending-only index.
 * Planned from a queue's statistics (taken when few deliveries were pending), that index looks
 * smaller than the batch and the planner reads all of it, or loops over it once per row: every
 * completion then costs a scan of the whole backlog.
 */
const FINISHED = ['succeeded', 'failed', 'abandoned'] as const satisfies readonly WebhookDeliveryStatus[];
// every status but 'pending' is in FINISHED: a new status fails to compile here until it is sorted
const finishedListed: [Exclude<WebhookDeliveryStatus, 'pending' | (typeof FINISHED)[number]>] extends [never]
  ? true
  : never = true;
const STILL_PENDING = finishedListed && `d.status not in (${FINISHED.map((s) => `'${s}'`).join(', ')})`;
export const POSTGRES_COMPLETE = `update webhook_deliveries as d
  set status = v.status, attempts = v.attempts, next_attempt_at = v.next_attempt_at,
    completed_at = v.completed_at, lease_owner = null, lease_until = null,
    last_attempt_at = v.last_attempt_at, last_status_code = v.last_status_code,
    last_latency_ms = v.last_latency_ms, last_error = v.last_error,
    last_excerpt = v.last_excerpt, last_succeeded = v.last_succeeded
  from unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::bigint[],
    $7::bigint[], $8::integer[], $9::double precision[], $10::text[], $11::text[], $12::integer[])
    as v(id, lease_owner, status, attempts, next_attempt_at, completed_at, last_attempt_at,
      last_status_code, last_latency_ms, last_error, last_excerpt, last_succeeded)
  where d.id = any($1::text[]) and d.id = v.id and d.lease_owner = v.lease_owner
    and ${STILL_PENDING}
  returning d.id`;

const POSTGRES_ARCHIVE = `insert into webhook_attempts (delivery_id, attempt, endpoint_id, started_at,
    status_code, latency_ms, response_excerpt, error_code, succeeded)
  select d.id, d.attempts, d.endpoint_id, d.last_attempt_at, d.last_status_code,
    d.last_latency_ms, d.last_excerpt, d.last_error, d.last_succeeded
  from webhook_deliveries as d join unnest($1::text[], $2::text[]) as v(id, lease_owner)
    on d.id = v.id and d.lease_owner = v.lease_owner
  where d.id = any($1::text[]) and ${STILL_PENDING} and d.attempts > 0
    and d.last_succeeded is not null
  on conflict (delivery_id, attempt) do nothing`;

/** Deliveries per PostgreSQL statement (arrays, so only the message size bounds it). */
const POSTGRES_CHUNK = 2000;

/**
 * PostgreSQL, the outbox's record of successful attempts: POSTGRES_ARCHIVE, POSTGRES_COMPLETE
 * and the end of the recorded endpoints' runs of failures, in one statement (one round trip,
 * no transaction to open and commit around three). Its parts share one snapshot, so the archive
 * reads each row's previous attempt before the update replaces it, and the endpoints cleared
 * are those of the rows the update recorded.
 */
export const POSTGRES_COMPLETE_SUCCEEDED = `with archived as (${POSTGRES_ARCHIVE}),
  done as (${POSTGRES_COMPLETE.replace(/returning d\.id$/, 'returning d.id, d.endpoint_id')}),
  cleared as (update webhook_endpoints set failing_since = null
    where id in (select endpoint_id from done) and failing_since is not null)
  select id from done`;

/**
 * PostgreSQL: completeWebhookAttemptRows and clearWebhookEndpointsFailing for the endpoints
 * recorded, as one statement per chunk (a batch of more than one chunk runs in a transaction).
 */
export async function completeSucceededPostgres(
  db: Kysely<Database>,
  inputs: readonly CompleteAttemptInput[],
): Promise<string[]> {
  const run = async (tx: Kysely<Database>) => {
    const recorded: string[] = [];
    for (let i = 0; i < inputs.length; i += POSTGRES_CHUNK) {
      const chunk = inputs.slice(i, i + POSTGRES_CHUNK);
      const { rows } = await tx.executeQuery<{ id: string }>(
        CompiledQuery.raw(POSTGRES_COMPLETE_SUCCEEDED, postgresColumns(chunk)),
      );
      for (const r of rows) recorded.push(r.id);
    }
    return recorded;
  };
  return inputs.length <= POSTGRES_CHUNK || db.isTransaction ? run(db) : db.transaction().execute(run);
}

/**
 * Records each attempt on its delivery's row if its owner still holds the lease, after moving
 * the delivery's previous attempt (second and later attempts) to `webhook_attempts`. Run it in
 * a transaction. Returns the ids of the deliveries recorded.
 */
export async function completeWebhookAttemptRows(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  inputs: readonly CompleteAttemptInput[],
): Promise<string[]> {
  const recorded: string[] = [];
  if (dialect === 'postgres') {
    for (let i = 0; i < inputs.length; i += POSTGRES_CHUNK) {
      const chunk = inputs.slice(i, i + POSTGRES_CHUNK);
      const retries = chunk.filter((c) => c.attempt.attempt > 1);
      if (retries.length > 0) {
        await db.executeQuery(
          CompiledQuery.raw(POSTGRES_ARCHIVE, [
            retries.map((c) => c.attempt.deliveryId),
            retries.map((c) => c.leaseOwner),
          ]),
        );
      }
      const { rows } = await db.executeQuery<{ id: string }>(
        CompiledQuery.raw(POSTGRES_COMPLETE, postgresColumns(chunk)),
      );
      for (const r of rows) recorded.push(r.id);
    }
    return recorded;
  }
  for (const c of inputs) {
    const a = c.attempt;
    if (a.attempt > 1) await db.executeQuery(CompiledQuery.raw(SQLITE_ARCHIVE, [a.deliveryId, c.leaseOwner]));
    const result = await db.executeQuery(
      CompiledQuery.raw(SQLITE_COMPLETE, [...outcomeValues(c), a.deliveryId, c.leaseOwner]),
    );
    if (Number(result.numAffectedRows ?? 0n) > 0) recorded.push(a.deliveryId);
  }
  return recorded;
}

/** A completion's new delivery state and attempt, in the order both statements take them. */
export function outcomeValues(c: CompleteAttemptInput): unknown[] {
  const a = c.attempt;
  return [
    c.status,
    a.attempt,
    c.nextAttemptAt,
    c.completedAt,
    a.startedAt,
    a.statusCode,
    a.latencyMs,
    a.errorCode,
    a.responseExcerpt,
    a.succeeded ? 1 : 0,
  ];
}

function postgresColumns(chunk: readonly CompleteAttemptInput[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 12 }, () => new Array(chunk.length));
  chunk.forEach((c, i) => {
    const values = [c.attempt.deliveryId, c.leaseOwner, ...outcomeValues(c)];
    for (let k = 0; k < values.length; k++) (columns[k] as unknown[])[i] = values[k];
  });
  return columns;
}

/**
 * The due, unleased deliveries, oldest due first (`status` a literal: the partial index
 * applies), leaving out the endpoints in `skip` (a condition on the claimer's list of endpoints
 * it already has enough of queued).
 */
const due = (now: string, limit: string, skip: string) => `select id from webhook_deliveries
    where status = 'pending' and next_attempt_at <= ${now}
      and (lease_until is null or lease_until <= ${now})
      and ${skip}
    order by next_attempt_at limit ${limit}`;

/**
 * PostgreSQL: the lease, and the events and endpoints of the deliveries leased, in one
 * statement (run by inDueOrder) that returns one row: three JSON arrays, each event and
 * endpoint once (not once per delivery that names it). SKIP LOCKED passes over rows a
 * concurrent claimer is leasing; `id = any(array(…))` makes the planner fetch the chosen rows
 * by primary key.
 */
export const POSTGRES_CLAIM = `with claimed as (
    update webhook_deliveries set lease_owner = $1, lease_until = $2
    where id = any(array(${due('$3', '$4', 'endpoint_id <> all($5::text[])')} for update skip locked))
    returning id, event_id, endpoint_id, attempts, next_attempt_at)
  select
    (select coalesce(json_agg(c), '[]') from claimed as c) as deliveries,
    (select coalesce(json_agg(e), '[]') from events as e
      where e.id in (select event_id from claimed)) as events,
    (select coalesce(json_agg(w), '[]') from webhook_endpoints as w
      where w.id in (select endpoint_id from claimed)) as endpoints`;

/** SQLite: the same lease (the caller's transaction holds the write lock), then the events and endpoints. */
export const SQLITE_CLAIM = `update webhook_deliveries set lease_owner = ?, lease_until = ?
  where id in (${due('?', '?', 'endpoint_id not in (select value from json_each(?))')})
  returning id, event_id, endpoint_id, attempts, next_attempt_at`;
export const SQLITE_EVENTS = `select * from events where id in (select value from json_each(?))`;
export const SQLITE_ENDPOINTS = `select * from webhook_endpoints where id in (select value from json_each(?))`;

interface ClaimRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  attempts: number;
  next_attempt_at: number;
}

/**
 * Runs a PostgreSQL claim with bitmap scans off. The planner sizes a claim by the outbox's
 * statistics, and a queue's are nearly always wrong: taken when few deliveries were pending,
 * they make "read every due row into a bitmap, then sort them" look cheaper than reading the
 * pending index in due order, and a backlog of n rows then costs a scan and a sort of all n
 * per claim. Without bitmap scans the index is read in order and the LIMIT stops it. Outside a
 * transaction the claim gets one of its own (the setting ends with it); inside the caller's,
 * the setting is put back after the claim.
 */
export async function inDueOrder<T>(
  db: Kysely<Database>,
  claim: (db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (!db.isTransaction)
    return db.transaction().execute(async (tx) => {
      await sql`set local enable_bitmapscan = off`.execute(tx);
      return claim(tx);
    });
  const { rows } = await sql<{ previous: string }>`select current_setting('enable_bitmapscan') as previous,
    set_config('enable_bitmapscan', 'off', true)`.execute(db);
  const restore = () =>
    sql`select set_config('enable_bitmapscan', ${rows[0]?.previous ?? 'on'}, true)`.execute(db);
  let result: T;
  try {
    result = await claim(db);
  } catch (err) {
    // after a database error the transaction is aborted and refuses this too: the claim's
    // error is the one to report
    await restore().catch(() => {});
    throw err;
  }
  await restore();
  return result;
}

export async function claimWebhookAttemptRows(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  owner: string,
  now: number,
  limit: number,
  leaseMs: number,
  skipEndpoints: readonly string[],
): Promise<ClaimedWebhookAttempts> {
  if (dialect === 'postgres') {
    const params = [owner, now + leaseMs, now, limit, [...skipEndpoints]];
    const { rows } = await inDueOrder(db, (tx) =>
      tx.executeQuery<{ deliveries: ClaimRow[]; events: EventsTable[]; endpoints: WebhookEndpointsTable[] }>(
        CompiledQuery.raw(POSTGRES_CLAIM, params),
      ),
    );
    const [r] = rows;
    return claimedDeliveries(r?.deliveries ?? [], r?.events ?? [], r?.endpoints ?? []);
  }
  const { rows } = await db.executeQuery<ClaimRow>(
    CompiledQuery.raw(SQLITE_CLAIM, sqliteClaimParams(owner, now, limit, leaseMs, skipEndpoints)),
  );
  if (rows.length === 0) return claimedDeliveries([], [], []);
  const events = await db.executeQuery<EventsTable>(
    CompiledQuery.raw(SQLITE_EVENTS, [JSON.stringify([...new Set(rows.map((r) => r.event_id))])]),
  );
  const endpoints = await db.executeQuery<WebhookEndpointsTable>(
    CompiledQuery.raw(SQLITE_ENDPOINTS, [JSON.stringify([...new Set(rows.map((r) => r.endpoint_id))])]),
  );
  return claimedDeliveries(rows, events.rows, endpoints.rows);
}

/** SQLITE_CLAIM's parameters, checked. */
export function sqliteClaimParams(
  owner: string,
  now: number,
  limit: number,
  leaseMs: number,
  skipEndpoints: readonly string[],
): unknown[] {
  checkClaim(limit, leaseMs);
  return [owner, now + leaseMs, now, now, JSON.stringify(skipEndpoints), limit];
}

export function checkClaim(limit: number, leaseMs: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 1)
    throw new RangeError('leaseMs must be a positive integer');
}

/** One input per delivery, as the completion statements assume. */
export function checkOnePerDelivery(inputs: readonly CompleteAttemptInput[]): void {
  if (new Set(inputs.map((i) => i.attempt.deliveryId)).size !== inputs.length)
    throw new RangeError('one input per delivery');
}

/** The claimed rows as deliveries, oldest due first, with their events and endpoints (rows as read). */
function claimedDeliveries(
  rows: readonly ClaimRow[],
  eventRows: readonly EventsTable[],
  endpointRows: readonly WebhookEndpointsTable[],
): ClaimedWebhookAttempts {
  const deliveries = rows
    .map((r) => ({
      id: r.id,
      eventId: r.event_id,
      endpointId: r.endpoint_id,
      attempts: Number(r.attempts),
      nextAttemptAt: Number(r.next_attempt_at),
    }))
    .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt);
  return {
    deliveries,
    events: eventRows.map(toEventRow),
    endpoints: endpointRows.map(toWebhookEndpointRow),
  };
}
