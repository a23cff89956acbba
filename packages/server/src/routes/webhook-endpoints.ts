import {
  CreateWebhookEndpointRequest,
  DeletedWebhookEndpoint,
  DeliveryListQuery,
  GatehouseError,
  idPattern,
  listOf,
  RedeliverFailedRequest,
  Redelivery,
  RotateWebhookSecretRequest,
  UpdateWebhookEndpointRequest,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointListQuery,
  WebhookEndpointSecret,
} from '@gatehouse/contract';
import { type AnyRoute, defineRoute, listResponse } from '../http/route.js';
import type { Runtime } from '../runtime.js';

const ENDPOINT_ID = idPattern('we');
/** A path id not even shaped like an endpoint id is simply "no such object". */
function endpointIdParam(params: Record<string, string>): string {
  const id = params['id'] ?? '';
  if (!ENDPOINT_ID.test(id)) throw new GatehouseError('resource_missing', { param: 'id' });
  return id;
}

export function webhookEndpointRoutes(rt: Runtime): AnyRoute[] {
  const tag = 'webhook_endpoints';
  return [
    defineRoute({
      method: 'POST',
      url: '/v1/webhook_endpoints',
      summary: 'Create a webhook endpoint (the v1 secret is in this response only)',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      body: CreateWebhookEndpointRequest,
      response: WebhookEndpoint,
      handler: ({ caller, body }) => rt.webhooks.create(caller, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/webhook_endpoints',
      summary: 'List webhook endpoints, newest first',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:read',
      query: WebhookEndpointListQuery,
      response: listOf(WebhookEndpoint, 'WebhookEndpointList'),
      handler: async ({ caller, query }) =>
        listResponse('/v1/webhook_endpoints', await rt.webhooks.list(caller, query)),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/webhook_endpoints/:id',
      summary: 'Retrieve a webhook endpoint',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:read',
      response: WebhookEndpoint,
      handler: ({ caller, params }) => rt.webhooks.get(caller, endpointIdParam(params)),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/webhook_endpoints/:id',
      summary: 'Update a webhook endpoint’s URL, events, description, rate or status (re-enable)',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      body: UpdateWebhookEndpointRequest,
      response: WebhookEndpoint,
      handler: ({ caller, params, body }) => rt.webhooks.update(caller, endpointIdParam(params), body),
    }),
    defineRoute({
      method: 'DELETE',
      url: '/v1/webhook_endpoints/:id',
      summary: 'Delete a webhook endpoint and its pending deliveries',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      response: DeletedWebhookEndpoint,
      handler: ({ caller, params }) => rt.webhooks.delete(caller, endpointIdParam(params)),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/webhook_endpoints/:id/rotate_secret',
      summary: 'Rotate the signing secret; the old one keeps signing for up to 24 hours',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      body: RotateWebhookSecretRequest,
      response: WebhookEndpoint,
      handler: ({ caller, params, body }) => rt.webhooks.rotateSecret(caller, endpointIdParam(params), body),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/webhook_endpoints/:id/secret',
      summary: 'Reveal the signing secret (audited; needs webhook_endpoints:write)',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      response: WebhookEndpointSecret,
      handler: ({ caller, params }) => rt.webhooks.revealSecret(caller, endpointIdParam(params)),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/webhook_endpoints/:id/test',
      summary: 'Send a webhook_endpoint.test event to this endpoint',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      response: WebhookDelivery,
      handler: ({ caller, params }) => rt.webhooks.test(caller, endpointIdParam(params)),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/webhook_endpoints/:id/deliveries',
      summary: 'List an endpoint’s deliveries with their attempts, newest first',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:read',
      query: DeliveryListQuery,
      response: listOf(WebhookDelivery, 'WebhookDeliveryList'),
      handler: async ({ caller, params, query }) => {
        const id = endpointIdParam(params);
        return listResponse(
          `/v1/webhook_endpoints/${id}/deliveries`,
          await rt.webhooks.deliveries(caller, id, query),
        );
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/webhook_endpoints/:id/redeliver_failed',
      summary: 'Send again every failed or abandoned delivery since a time',
      tag,
      auth: 'key',
      scope: 'webhook_endpoints:write',
      body: RedeliverFailedRequest,
      response: Redelivery,
      handler: async ({ caller, params, body }) => ({
        object: 'redelivery' as const,
        requeued: await rt.webhooks.redeliverFailed(caller, endpointIdParam(params), body.since),
      }),
    }),
  ];
}
