import type { Mutex } from './mutex.js';
import type { EventsTable } from './schema.js';
import { openSqliteWorker } from './sqlite-worker.js';
import type { CompleteAttemptInput, WebhookOutbox } from './types.js';
import {
  type ClaimRow,
  checkOnePerDelivery,
  claimedDeliveries,
  outcomeValues,
  SQLITE_ARCHIVE,
  SQLITE_CLAIM,
  SQLITE_COMPLETE,
  SQLITE_EVENTS,
  sqliteClaimParams,
} from './webhook-attempt-writes.js';

/** Values per completion in a `complete` call: delivery id, lease owner, endpoint id, attempt number, then outcomeValues. */
const WIDTH = 14;

const CLEAR_FAILING = `update webhook_endpoints set failing_since = null
  where id in (select value from json_each(?)) and failing_since is not null`;

/**
 * The worker's side. `claim`: the lease and the events, in one write transaction (BEGIN
 * IMMEDIATE, as the store's). `complete`: each attempt archived and recorded as the store's
 * completeWebhookAttempts does, then the failing state cleared on the endpoints with an
 * attempt recorded, in one transaction.
 */
const HANDLERS = `
const WIDTH = ${WIDTH};
const claim = db.transaction((params) => {
  const rows = prepared(${JSON.stringify(SQLITE_CLAIM)}).all(params);
  if (rows.length === 0) return { rows, events: [] };
  const ids = JSON.stringify([...new Set(rows.map((r) => r.event_id))]);
  return { rows, events: prepared(${JSON.stringify(SQLITE_EVENTS)}).all(ids) };
});
const complete = db.transaction((values) => {
  const archive = prepared(${JSON.stringify(SQLITE_ARCHIVE)});
  const update = prepared(${JSON.stringify(SQLITE_COMPLETE)});
  const recorded = [];
  const endpoints = new Set();
  for (let i = 0; i < values.length; i += WIDTH) {
    const id = values[i];
    const owner = values[i + 1];
    if (values[i + 3] > 1) archive.run(id, owner);
    const args = values.slice(i + 4, i + WIDTH);
    args.push(id, owner);
    if (update.run(args).changes > 0) {
      recorded.push(id);
      endpoints.add(values[i + 2]);
    }
  }
  if (endpoints.size > 0) prepared(${JSON.stringify(CLEAR_FAILING)}).run(JSON.stringify([...endpoints]));
  return recorded;
});
const handlers = {
  claim: (params) => claim.immediate(params),
  complete: (values) => complete.immediate(values),
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
      const { rows, events } = await worker.call<{ rows: ClaimRow[]; events: EventsTable[] }>(
        'claim',
        sqliteClaimParams(owner, now, limit, leaseMs, skipEndpoints),
      );
      return claimedDeliveries(rows, events);
    },
    async completeSucceeded(inputs: readonly CompleteAttemptInput[]) {
      if (inputs.length === 0) return [];
      checkOnePerDelivery(inputs);
      const values: unknown[] = new Array(inputs.length * WIDTH);
      let k = 0;
      for (const c of inputs) {
        values[k++] = c.attempt.deliveryId;
        values[k++] = c.leaseOwner;
        values[k++] = c.attempt.endpointId;
        values[k++] = c.attempt.attempt;
        for (const v of outcomeValues(c)) values[k++] = v;
      }
      return worker.call<string[]>('complete', values);
    },
    close: () => worker.close(),
  };
}
