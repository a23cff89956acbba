import { z } from 'zod';
import { databaseText } from './database-text.js';
import { idPattern } from './ids.js';
import { KEY_MODES } from './keys.js';
import { AccountId, ListQuery, Metadata } from './schemas.js';

// Webhook endpoints, events and deliveries (`/v1/webhook_endpoints`, `/v1/events`).

const unixSeconds = z.number().int().nonnegative().describe('Unix time in seconds');

export const WEBHOOK_SIGNING_SCHEMES = ['v1', 'v1a'] as const;
export type WebhookSigningScheme = (typeof WEBHOOK_SIGNING_SCHEMES)[number];
export const WEBHOOK_ENDPOINT_STATUSES = ['enabled', 'disabled'] as const;
export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'abandoned'] as const;
/** How long a rotated-out secret keeps signing, at most (and by default). */
export const MAX_WEBHOOK_SECRET_GRACE_SECONDS = 24 * 3600;

/** Events Gatehouse publishes about itself. */
export const GATEHOUSE_EVENT_TYPES = [
  'key.created',
  'key.rolled',
  'key.revoked',
  'key.expiring',
  'webhook_endpoint.disabled',
  'webhook_endpoint.test',
] as const;

export const WebhookEndpointId = z.string().regex(idPattern('we'), 'must be a webhook endpoint id (we_…)');
export const EventId = z.string().regex(idPattern('evt'), 'must be an event id (evt_…)');
export const DeliveryId = z.string().regex(idPattern('del'), 'must be a delivery id (del_…)');

/** `payment.succeeded`: lower-case dot-separated words. */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){1,4}$/;
/** An event type, `payment.*` (every type under a prefix) or `*` (every type). */
export const ENABLED_EVENT_PATTERN =
  /^(\*|[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){0,4}\.\*|[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){1,4})$/;

export const EventType = z.string().max(200).regex(EVENT_TYPE_PATTERN, 'must look like `payment.succeeded`');
export const EnabledEvent = z
  .string()
  .max(200)
  .regex(ENABLED_EVENT_PATTERN, 'must be an event type, a `prefix.*` wildcard or `*`');
const WebhookUrl = z.string().min(1).max(2048).describe('https:// (live mode); checked against SSRF rules');
const Description = databaseText().trim().max(500);
const RatePerSecond = z.number().int().min(1).max(10_000);

export const WebhookEndpoint = z
  .object({
    id: WebhookEndpointId,
    object: z.literal('webhook_endpoint'),
    account: AccountId,
    mode: z.enum(KEY_MODES),
    url: z.string(),
    description: z.string().nullable(),
    enabled_events: z.array(z.string()),
    signing: z.enum(WEBHOOK_SIGNING_SCHEMES),
    status: z.enum(WEBHOOK_ENDPOINT_STATUSES),
    disabled_reason: z.string().nullable(),
    rate_limit_per_second: z.number().int().nullable(),
    metadata: Metadata,
    public_key: z.string().nullable().describe('v1a: the `whpk_…` Ed25519 key receivers verify with'),
    previous_secret_expires_at: unixSeconds
      .nullable()
      .describe('While a rotated-out secret still signs: when it stops'),
    failing_since: unixSeconds.nullable(),
    created: unixSeconds,
    secret: z
      .string()
      .optional()
      .describe('v1: the `whsec_…` signing secret. Present only in the response that creates the endpoint.'),
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;

export const DeletedWebhookEndpoint = z
  .object({ id: WebhookEndpointId, object: z.literal('webhook_endpoint'), deleted: z.literal(true) })
  .meta({ id: 'DeletedWebhookEndpoint' });

export const WebhookEndpointSecret = z
  .object({
    object: z.literal('webhook_endpoint_secret'),
    endpoint: WebhookEndpointId,
    signing: z.enum(WEBHOOK_SIGNING_SCHEMES),
    secret: z.string().nullable().describe('v1: the current `whsec_…` secret'),
    public_key: z.string().nullable().describe('v1a: the `whpk_…` public key'),
    previous_secret_expires_at: unixSeconds.nullable(),
  })
  .meta({ id: 'WebhookEndpointSecret' });

export const CreateWebhookEndpointRequest = z.strictObject({
  account: AccountId.optional().describe('Operator keys only: the account the endpoint belongs to'),
  mode: z
    .enum(KEY_MODES)
    .optional()
    .describe('Defaults to the calling key’s mode; operator keys must set it'),
  url: WebhookUrl,
  enabled_events: z.array(EnabledEvent).min(1).max(100),
  description: Description.optional(),
  signing: z.enum(WEBHOOK_SIGNING_SCHEMES).default('v1'),
  rate_limit_per_second: RatePerSecond.optional(),
  metadata: Metadata.optional(),
});
export type CreateWebhookEndpointRequest = z.infer<typeof CreateWebhookEndpointRequest>;

export const UpdateWebhookEndpointRequest = z.strictObject({
  url: WebhookUrl.optional(),
  enabled_events: z.array(EnabledEvent).min(1).max(100).optional(),
  description: Description.nullable().optional(),
  status: z.enum(WEBHOOK_ENDPOINT_STATUSES).optional().describe('`enabled` re-enables a disabled endpoint'),
  rate_limit_per_second: RatePerSecond.nullable().optional(),
  metadata: Metadata.optional(),
});
export type UpdateWebhookEndpointRequest = z.infer<typeof UpdateWebhookEndpointRequest>;

export const RotateWebhookSecretRequest = z.strictObject({
  expires_in_seconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_WEBHOOK_SECRET_GRACE_SECONDS)
    .optional()
    .describe('How long the old secret keeps signing (0 = stop now); default 24 h'),
});
export type RotateWebhookSecretRequest = z.infer<typeof RotateWebhookSecretRequest>;

export const WebhookEndpointListQuery = ListQuery.extend({
  account: AccountId.optional(),
  mode: z.enum(KEY_MODES).optional(),
});

/**
 * Type prefixes only Gatehouse publishes under: a receiver must be able to trust that a
 * `key.revoked` or a `webhook_endpoint.disabled` came from Gatehouse, not from a service
 * holding `events:write`.
 */
export const RESERVED_EVENT_TYPE_PREFIXES = ['key.', 'webhook_endpoint.'] as const;

export const PublishEventRequest = z.strictObject({
  account: AccountId.optional().describe('Operator keys only: the account the event belongs to'),
  mode: z.enum(KEY_MODES).optional(),
  type: EventType.refine(
    (type) => !RESERVED_EVENT_TYPE_PREFIXES.some((prefix) => type.startsWith(prefix)),
    'key.* and webhook_endpoint.* are reserved for the events Gatehouse publishes',
  ),
  data: z.record(z.string(), z.unknown()).describe('The event’s payload object'),
});
export type PublishEventRequest = z.infer<typeof PublishEventRequest>;

export const Event = z
  .object({
    id: EventId,
    object: z.literal('event'),
    account: AccountId,
    mode: z.enum(KEY_MODES),
    type: z.string(),
    data: z.record(z.string(), z.unknown()),
    request_id: z.string().nullable(),
    created: unixSeconds,
  })
  .meta({ id: 'Event' });
export type Event = z.infer<typeof Event>;

export const EventListQuery = ListQuery.extend({
  account: AccountId.optional(),
  mode: z.enum(KEY_MODES).optional(),
  type: EventType.optional(),
});

export const RedeliverEventRequest = z.strictObject({
  endpoint: WebhookEndpointId.optional().describe('Only this endpoint; default every endpoint that got it'),
});

export const RedeliverFailedRequest = z.strictObject({
  since: unixSeconds.describe('Failed or abandoned deliveries of events created at or after this time'),
});

export const Redelivery = z
  .object({ object: z.literal('redelivery'), requeued: z.number().int() })
  .meta({ id: 'Redelivery' });

export const WebhookAttempt = z.object({
  attempt: z.number().int(),
  started: unixSeconds,
  status_code: z.number().int().nullable(),
  latency_ms: z.number(),
  response_excerpt: z.string().nullable().describe('At most 1 KiB of the response body, secrets redacted'),
  error_code: z.string().nullable(),
  succeeded: z.boolean(),
});

export const WebhookDelivery = z
  .object({
    id: DeliveryId,
    object: z.literal('webhook_delivery'),
    event: EventId,
    endpoint: WebhookEndpointId,
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    attempts: z.number().int(),
    next_attempt_at: unixSeconds.nullable(),
    last_attempt_at: unixSeconds.nullable(),
    last_status_code: z.number().int().nullable(),
    created: unixSeconds,
    completed_at: unixSeconds.nullable(),
    attempt_history: z.array(WebhookAttempt),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const DeliveryListQuery = ListQuery.extend({
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional(),
});
