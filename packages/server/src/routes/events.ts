import {
  Event,
  EventListQuery,
  GatehouseError,
  idPattern,
  listOf,
  PublishEventRequest,
  RedeliverEventRequest,
  Redelivery,
} from '@gatehouse/contract';
import { type AnyRoute, defineRoute, listResponse } from '../http/route.js';
import type { Runtime } from '../runtime.js';

const EVENT_ID = idPattern('evt');
function eventIdParam(params: Record<string, string>): string {
  const id = params['id'] ?? '';
  if (!EVENT_ID.test(id)) throw new GatehouseError('resource_missing', { param: 'id' });
  return id;
}

export function eventRoutes(rt: Runtime): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/v1/events',
      summary: 'Publish an event to the account’s webhook endpoints',
      tag: 'events',
      auth: 'key',
      scope: 'events:write',
      body: PublishEventRequest,
      response: Event,
      handler: ({ caller, body }) => rt.events.publish(caller, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/events',
      summary: 'List events, newest first',
      tag: 'events',
      auth: 'key',
      scope: 'events:read',
      query: EventListQuery,
      response: listOf(Event, 'EventList'),
      handler: async ({ caller, query }) => listResponse('/v1/events', await rt.events.list(caller, query)),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/events/:id',
      summary: 'Retrieve an event',
      tag: 'events',
      auth: 'key',
      scope: 'events:read',
      response: Event,
      handler: ({ caller, params }) => rt.events.get(caller, eventIdParam(params)),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/events/:id/redeliver',
      summary: 'Send an event again (to every endpoint that received it, or to one)',
      tag: 'events',
      auth: 'key',
      scope: 'events:write',
      body: RedeliverEventRequest,
      response: Redelivery,
      handler: async ({ caller, params, body }) => ({
        object: 'redelivery' as const,
        requeued: await rt.events.redeliver(caller, eventIdParam(params), body.endpoint),
      }),
    }),
  ];
}
