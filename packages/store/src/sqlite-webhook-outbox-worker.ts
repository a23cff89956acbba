import type { Mutex } from './mutex.js';
import { toEventRow, toWebhookEndpointRow } from './rows.js';
import type { EventsTable, WebhookEndpointsTable } from './schema.js';
import { openSqliteWorker } from './sqlite-worker.js';
import type { ClaimedWebhookDelivery, CompleteAttemptInput, WebhookOutbox } from './types.js';
import {
  checkOnePerDelivery,
  SQLITE_ARCHIVE,
  SQLITE_CLAIM,
  SQLITE_COMPLETE,
  SQLITE_ENDPOINTS,
  SQLITE_EVENTS,
  sqliteClaimParams,
} from './webhook-attempt-writes.js';

const CLEAR_FAILING = `update webhook_endpoints set failing_since = null
  where id in (select value from json_each(?)) and failing_since is not null`;

/**
 * A claim as it crosses from the worker: the deliveries as columns (already in due order),
 * which the thread boundary copies far more cheaply than an object per row.
 */
interface ClaimReply {
  ids: string[];
  eventIds: string[];
  endpointIds: string[];
  /** attempts, next_attempt_at: two per delivery */
  numbers: Float64Array;
  events: EventsTable[];
  endpoints: WebhookEndpointsTable[];
}

/**
 * Completions as they cross to the worker, as columns. `numbers` holds NUMBERS_PER_COMPLETION
 * per completion (NaN for null): attempt number, next attempt at, completed at, started at,
 * status code, latency ms, succeeded (1/0).
 */
interface CompleteRequest {
  ids: string[];
  owners: string[];
  endpointIds: string[];
  statuses: string[];
  errorCodes: (string | null)[];
  excerpts: (string | null)[];
  numbers: Float64Array;
}
const NUMBERS_PER_COMPLETION = 7;

/**
 * The worker's side. `claim`: the lease, the events and the endpoints, in one write
 * transaction (BEGIN IMMEDIATE, as the store's). `complete`: each attempt archived and recorded
 * as the store's completeWebhookAttempts does, then the failing state cleared on the endpoints
 * with an attempt recorded, in one transaction.
 */
const HANDLERS = `
const N = ${NUMBERS_PER_COMPLETION};
const orNull = (x) => (Number.isNaN(x) ? null : x);
const claim = db.transaction((params) => {
  const rows = prepared(${JSON.stringify(SQLITE_CLAIM)}).all(params);
  rows.sort((a, b) => a.next_attempt_at - b.next_attempt_at);
  const numbers = new Float64Array(2 * rows.length);
  const ids = new Array(rows.length);
  const eventIds = new Array(rows.length);
  const endpointIds = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    ids[i] = r.id;
    eventIds[i] = r.event_id;
    endpointIds[i] = r.endpoint_id;
    numbers[2 * i] = r.attempts;
    numbers[2 * i + 1] = r.next_attempt_at;
  }
  if (rows.length === 0) return { ids, eventIds, endpointIds, numbers, events: [], endpoints: [] };
  const events = prepared(${JSON.stringify(SQLITE_EVENTS)}).all(JSON.stringify([...new Set(eventIds)]));
  const endpoints = prepared(${JSON.stringify(SQLITE_ENDPOINTS)}).all(JSON.stringify([...new Set(endpointIds)]));
  return { ids, eventIds, endpointIds, numbers, events, endpoints };
});
const complete = db.transaction((c) => {
  const archive = prepared(${JSON.stringify(SQLITE_ARCHIVE)});
  const update = prepared(${JSON.stringify(SQLITE_COMPLETE)});
  const recorded = [];
  const endpoints = new Set();
  const x = c.numbers;
  for (let i = 0; i < c.ids.length; i++) {
    const id = c.ids[i];
    const owner = c.owners.length === 1 ? c.owners[0] : c.owners[i];
    const k = i * N;
    if (x[k] > 1) archive.run(id, owner);
    // in SQLITE_COMPLETE's order (outcomeValues), then the delivery and its lease owner
    const changes = update.run(
      c.statuses[i], x[k], orNull(x[k + 1]), orNull(x[k + 2]), x[k + 3], orNull(x[k + 4]), x[k + 5],
      c.errorCodes[i], c.excerpts[i], x[k + 6], id, owner,
    ).changes;
    if (changes > 0) {
      recorded.push(id);
      endpoints.add(c.endpointIds[i]);
    }
  }
  if (endpoints.size > 0) prepared(${JSON.stringify(CLEAR_FAILING)}).run(JSON.stringify([...endpoints]));
  return recorded;
});
const handlers = {
  claim: (params) => claim.immediate(params),
  complete: (request) => complete.immediate(request),
};
`;

/**
 * The webhook dispatcher's claims and its record of successful attempts, on a worker thread
 * with its own connection to the SQLite file (see openSqliteWorker): at the delivery rate these
 * statements are most of a dispatcher's database time, and here they run beside the event loop
 * that sends the requests instead of on it. Same statements, same transactions, same results
 * as the store's claimWebhookAttempts and completeWebhookAttempts + clearWebhookEndpointsFailing.
 */
export function openSqliteWebhookOutbox(file: string, fileMutex?: Mutex): WebhookOutbox {
  const worker = openSqliteWorker({ file, handlers: HANDLERS, what: 'webhook outbox', fileMutex });
  return {
    async claim(owner, now, limit, leaseMs, skipEndpoints = []) {
      const reply = await worker.call<ClaimReply>(
        'claim',
        sqliteClaimParams(owner, now, limit, leaseMs, skipEndpoints),
      );
      const deliveries: ClaimedWebhookDelivery[] = new Array(reply.ids.length);
      for (let i = 0; i < deliveries.length; i++) {
        deliveries[i] = {
          id: reply.ids[i] as string,
          eventId: reply.eventIds[i] as string,
          endpointId: reply.endpointIds[i] as string,
          attempts: reply.numbers[2 * i] as number,
          nextAttemptAt: reply.numbers[2 * i + 1] as number,
        };
      }
      return {
        deliveries,
        events: reply.events.map(toEventRow),
        endpoints: reply.endpoints.map(toWebhookEndpointRow),
      };
    },
    async completeSucceeded(inputs: readonly CompleteAttemptInput[]) {
      if (inputs.length === 0) return [];
      checkOnePerDelivery(inputs);
      const n = inputs.length;
      const request: CompleteRequest = {
        ids: new Array(n),
        owners: [],
        endpointIds: new Array(n),
        statuses: new Array(n),
        errorCodes: new Array(n),
        excerpts: new Array(n),
        numbers: new Float64Array(n * NUMBERS_PER_COMPLETION),
      };
      const owner = inputs[0]?.leaseOwner as string;
      const oneOwner = inputs.every((c) => c.leaseOwner === owner);
      const nan = (v: number | null) => (v === null ? Number.NaN : v);
      inputs.forEach((c, i) => {
        const a = c.attempt;
        request.ids[i] = a.deliveryId;
        if (!oneOwner) request.owners[i] = c.leaseOwner;
        request.endpointIds[i] = a.endpointId;
        request.statuses[i] = c.status;
        request.errorCodes[i] = a.errorCode;
        request.excerpts[i] = a.responseExcerpt;
        const k = i * NUMBERS_PER_COMPLETION;
        const x = request.numbers;
        x[k] = a.attempt;
        x[k + 1] = nan(c.nextAttemptAt);
        x[k + 2] = nan(c.completedAt);
        x[k + 3] = a.startedAt;
        x[k + 4] = nan(a.statusCode);
        x[k + 5] = a.latencyMs;
        x[k + 6] = a.succeeded ? 1 : 0;
      });
      if (oneOwner) request.owners = [owner];
      return worker.call<string[]>('complete', request);
    },
    close: () => worker.close(),
  };
}
