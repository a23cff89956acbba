import {
  type Event,
  GatehouseError,
  type KeyMode,
  type ListQuery,
  type PublishEventRequest,
} from '@gatehouse/contract';
import { type Clock, newId } from '@gatehouse/core';
import type {
  EventRow,
  Page,
  Store,
  StoreOps,
  WebhookDeliveryRow,
  WebhookEndpointRow,
} from '@gatehouse/store';
import { eventTypeMatches } from '../webhooks/event-type-match.js';
import type { OutboxSignal } from '../webhooks/outbox-signal.js';
import { auditInput } from './audit-input.js';
import { type Caller, listScopeOf, requireScope, targetOf } from './principal.js';

export interface EventDraft {
  accountId: string;
  mode: KeyMode;
  type: string;
  data: Record<string, unknown>;
  requestId: string | null;
}

/**
 * Writes an event and its outbox rows (one per enabled endpoint of the account and mode that
 * subscribes to the type, or only `onlyTo`) inside the caller's transaction: the change, its
 * audit entry, the event and its deliveries commit together or not at all.
 */
export async function writeEvent(
  tx: StoreOps,
  draft: EventDraft,
  now: number,
  onlyTo?: WebhookEndpointRow,
): Promise<{ event: EventRow; deliveries: WebhookDeliveryRow[] }> {
  const event: EventRow = { id: newId('evt', now), createdAt: now, ...draft };
  const endpoints = onlyTo
    ? [onlyTo]
    : (await tx.enabledWebhookEndpoints(draft.accountId, draft.mode)).filter((e) =>
        eventTypeMatches(e.enabledEvents, draft.type),
      );
  const deliveries = endpoints.map((endpoint) => newDelivery(event.id, endpoint.id, now));
  await tx.insertEvent(event);
  await tx.insertWebhookDeliveries(deliveries);
  return { event, deliveries };
}

export function newDelivery(eventId: string, endpointId: string, now: number): WebhookDeliveryRow {
  return {
    id: newId('del', now),
    eventId,
    endpointId,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    leaseOwner: null,
    leaseUntil: null,
    lastAttemptAt: null,
    lastStatusCode: null,
    lastLatencyMs: null,
    lastError: null,
    lastExcerpt: null,
    createdAt: now,
    completedAt: null,
  };
}

const seconds = (ms: number) => Math.floor(ms / 1000);

export function toEvent(row: EventRow): Event {
  return {
    id: row.id,
    object: 'event',
    account: row.accountId,
    mode: row.mode,
    type: row.type,
    data: row.data,
    request_id: row.requestId,
    created: seconds(row.createdAt),
  };
}

/**
 * The body every attempt of every delivery of this event sends: the same bytes each time.
 * The Standard Webhooks fields (`type`, `timestamp`, `data`) plus the event's id, account and mode.
 */
export function eventPayload(row: EventRow): string {
  return JSON.stringify({
    id: row.id,
    object: 'event',
    type: row.type,
    timestamp: new Date(row.createdAt).toISOString(),
    created: seconds(row.createdAt),
    account: row.accountId,
    mode: row.mode,
    data: row.data,
  });
}

export interface EventServiceDeps {
  store: Store;
  clock: Clock;
  outbox?: OutboxSignal;
}

/** Events: published by integrators' services (`POST /v1/events`) and by Gatehouse itself. */
export class EventService {
  constructor(private readonly deps: EventServiceDeps) {}

  async publish(caller: Caller, input: PublishEventRequest): Promise<Event> {
    requireScope(caller, 'events:write');
    const { accountId, mode } = targetOf(caller, input.account, input.mode);
    if (!(await this.deps.store.getAccount(accountId))) {
      throw new GatehouseError('resource_missing', { param: 'account' });
    }
    const now = this.deps.clock.now();
    const { event, deliveries } = await this.deps.store.transaction(async (tx) => {
      const written = await writeEvent(
        tx,
        { accountId, mode, type: input.type, data: input.data, requestId: caller.requestId },
        now,
      );
      await tx.appendAudit(
        auditInput(
          caller,
          now,
          'event.published',
          accountId,
          { type: 'event', id: written.event.id },
          {
            type: input.type,
            mode,
            deliveries: written.deliveries.length,
          },
        ),
      );
      return written;
    });
    if (deliveries.length > 0) this.deps.outbox?.notify();
    return toEvent(event);
  }

  async list(
    caller: Caller,
    query: ListQuery & {
      account?: string | undefined;
      mode?: KeyMode | undefined;
      type?: string | undefined;
    },
  ): Promise<Page<Event>> {
    requireScope(caller, 'events:read');
    const filter: { accountId?: string; mode?: KeyMode; type?: string } = listScopeOf(
      caller,
      query.account,
      query.mode,
    );
    if (query.type !== undefined) filter.type = query.type;
    const page = await this.deps.store.listEvents(filter, {
      limit: query.limit,
      startingAfter: query.starting_after,
      endingBefore: query.ending_before,
    });
    return { data: page.data.map(toEvent), hasMore: page.hasMore };
  }

  async get(caller: Caller, id: string): Promise<Event> {
    requireScope(caller, 'events:read');
    return toEvent(await visibleEvent(caller, this.deps.store, id));
  }

  /**
   * Sends the event again: every delivery of it to an enabled endpoint (or the one to
   * `endpointId`, refused when that endpoint is disabled) is due now, finished ones and those
   * waiting for a retry alike (one being attempted at this moment is left to finish). An
   * endpoint of the same account and mode that never received it gets a new delivery.
   */
  async redeliver(caller: Caller, id: string, endpointId: string | undefined): Promise<number> {
    requireScope(caller, 'events:write');
    const now = this.deps.clock.now();
    const count = await this.deps.store.transaction(async (tx) => {
      // locked: two redeliveries of one event at once would both find no delivery to an
      // endpoint and both create one (nothing in the schema makes (event, endpoint) unique)
      const event = await visibleEvent(caller, tx, id, { lock: true });
      let requeued: number;
      if (endpointId !== undefined) {
        const endpoint = await tx.getWebhookEndpoint(endpointId);
        if (!endpoint || endpoint.accountId !== event.accountId || endpoint.mode !== event.mode) {
          throw new GatehouseError('resource_missing', { param: 'endpoint' });
        }
        if (endpoint.status !== 'enabled') throw new GatehouseError('webhook_endpoint_disabled');
        const existing = await tx.listWebhookDeliveries({ eventId: id, endpointId }, { limit: 1 });
        if (existing.data.length === 0) {
          await tx.insertWebhookDeliveries([newDelivery(id, endpointId, now)]);
          requeued = 1;
        } else {
          requeued = await tx.requeueWebhookDeliveries(
            { eventId: id, endpointId, statuses: ['pending', 'succeeded', 'failed', 'abandoned'] },
            now,
            1000,
          );
        }
      } else {
        requeued = await tx.requeueWebhookDeliveries(
          { eventId: id, statuses: ['pending', 'succeeded', 'failed', 'abandoned'] },
          now,
          1000,
        );
      }
      await tx.appendAudit(
        auditInput(
          caller,
          now,
          'event.redelivered',
          event.accountId,
          { type: 'event', id },
          {
            endpoint: endpointId ?? null,
            requeued,
          },
        ),
      );
      return requeued;
    });
    if (count > 0) this.deps.outbox?.notify();
    return count;
  }
}

/** Another account's or mode's event is "no such object". */
async function visibleEvent(
  caller: Caller,
  ops: StoreOps,
  id: string,
  options: { lock?: boolean } = {},
): Promise<EventRow> {
  const row = options.lock ? await ops.getEventForUpdate(id) : await ops.getEvent(id);
  const p = caller.principal;
  if (!row || (p.kind === 'account' && (row.accountId !== p.accountId || row.mode !== p.mode))) {
    throw new GatehouseError('resource_missing', { param: 'id' });
  }
  return row;
}
