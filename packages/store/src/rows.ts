import type { AnyKeyType, KeyMode } from '@gatehouse/contract';
import { canonicalJson } from '@gatehouse/core';
import type {
  AccountsTable,
  ApiKeysTable,
  AuditEventsTable,
  EventsTable,
  RequestLogsTable,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from './schema.js';
import type {
  AccountRow,
  AuditActorType,
  AuditRow,
  EventRow,
  KeyRow,
  RequestLogRow,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookDeliveryStatus,
  WebhookEndpointRow,
  WebhookEndpointStatus,
  WebhookSigning,
} from './types.js';

/** Conversions between the store's rows (camelCase, parsed JSON) and table rows (snake_case, JSON text). */

function decode<T>(text: string): T {
  return JSON.parse(text) as T;
}

function decodeNullable<T>(text: string | null): T | null {
  return text === null ? null : decode<T>(text);
}

function encodeNullable(value: unknown): string | null {
  return value === null ? null : canonicalJson(value);
}

export function accountColumns(row: AccountRow): AccountsTable {
  return {
    id: row.id,
    name: row.name,
    max_key_age_days: row.maxKeyAgeDays,
    rate_limits: encodeNullable(row.rateLimits),
    metadata: canonicalJson(row.metadata),
    created_at: row.createdAt,
  };
}

export function toAccountRow(r: AccountsTable): AccountRow {
  return {
    id: r.id,
    name: r.name,
    maxKeyAgeDays: r.max_key_age_days,
    rateLimits: decodeNullable(r.rate_limits),
    metadata: decode(r.metadata),
    createdAt: r.created_at,
  };
}

export function keyColumns(row: KeyRow): ApiKeysTable {
  return {
    id: row.id,
    account_id: row.accountId,
    type: row.type,
    mode: row.mode,
    name: row.name,
    key_hash: row.keyHash,
    pepper_version: row.pepperVersion,
    hint: row.hint,
    scopes: canonicalJson(row.scopes),
    ip_allowlist: canonicalJson(row.ipAllowlist),
    rate_limits: encodeNullable(row.rateLimits),
    metadata: canonicalJson(row.metadata),
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    last_used_at: row.lastUsedAt,
    revoked_at: row.revokedAt,
    revoked_reason: row.revokedReason,
    rolled_to: row.rolledTo,
  };
}

export function toKeyRow(r: ApiKeysTable): KeyRow {
  return {
    id: r.id,
    accountId: r.account_id,
    type: r.type as AnyKeyType,
    mode: r.mode as KeyMode | null,
    name: r.name,
    keyHash: r.key_hash,
    pepperVersion: r.pepper_version,
    hint: r.hint,
    scopes: decode(r.scopes),
    ipAllowlist: decode(r.ip_allowlist),
    rateLimits: decodeNullable(r.rate_limits),
    metadata: decode(r.metadata),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    revokedReason: r.revoked_reason,
    rolledTo: r.rolled_to,
  };
}

export function auditColumns(row: AuditRow): AuditEventsTable {
  return {
    id: row.id,
    seq: row.seq,
    created_at: row.createdAt,
    account_id: row.accountId,
    actor_type: row.actorType,
    actor_id: row.actorId,
    action: row.action,
    target_type: row.targetType,
    target_id: row.targetId,
    data: canonicalJson(row.data),
    ip: row.ip,
    request_id: row.requestId,
    prev_hash: row.prevHash,
    hash: row.hash,
  };
}

export function toAuditRow(r: AuditEventsTable): AuditRow {
  return {
    id: r.id,
    seq: r.seq,
    createdAt: r.created_at,
    accountId: r.account_id,
    actorType: r.actor_type as AuditActorType,
    actorId: r.actor_id,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    data: decode(r.data),
    ip: r.ip,
    requestId: r.request_id,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export function toRequestLogRow(r: RequestLogsTable): RequestLogRow {
  return {
    id: r.id,
    createdAt: r.created_at,
    accountId: r.account_id,
    keyId: r.key_id,
    mode: r.mode as KeyMode | null,
    method: r.method,
    route: r.route,
    status: r.status,
    latencyMs: r.latency_ms,
    clientIp: r.client_ip,
    userAgent: r.user_agent,
    errorCode: r.error_code,
  };
}

export function webhookEndpointColumns(row: WebhookEndpointRow): WebhookEndpointsTable {
  return {
    id: row.id,
    account_id: row.accountId,
    mode: row.mode,
    url: row.url,
    description: row.description,
    enabled_events: canonicalJson(row.enabledEvents),
    signing: row.signing,
    status: row.status,
    disabled_reason: row.disabledReason,
    secret: row.secret,
    public_key: row.publicKey,
    previous_secret: row.previousSecret,
    previous_secret_expires_at: row.previousSecretExpiresAt,
    rate_limit_per_second: row.rateLimitPerSecond,
    metadata: canonicalJson(row.metadata),
    failing_since: row.failingSince,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

export function toWebhookEndpointRow(r: WebhookEndpointsTable): WebhookEndpointRow {
  return {
    id: r.id,
    accountId: r.account_id,
    mode: r.mode as KeyMode,
    url: r.url,
    description: r.description,
    enabledEvents: decode(r.enabled_events),
    signing: r.signing as WebhookSigning,
    status: r.status as WebhookEndpointStatus,
    disabledReason: r.disabled_reason,
    secret: r.secret,
    publicKey: r.public_key,
    previousSecret: r.previous_secret,
    previousSecretExpiresAt: r.previous_secret_expires_at,
    rateLimitPerSecond: r.rate_limit_per_second,
    metadata: decode(r.metadata),
    failingSince: r.failing_since,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function eventColumns(row: EventRow): EventsTable {
  return {
    id: row.id,
    account_id: row.accountId,
    mode: row.mode,
    type: row.type,
    data: canonicalJson(row.data),
    request_id: row.requestId,
    created_at: row.createdAt,
  };
}

export function toEventRow(r: EventsTable): EventRow {
  return {
    id: r.id,
    accountId: r.account_id,
    mode: r.mode as KeyMode,
    type: r.type,
    data: decode(r.data),
    requestId: r.request_id,
    createdAt: r.created_at,
  };
}

export function webhookDeliveryColumns(row: WebhookDeliveryRow): WebhookDeliveriesTable {
  return {
    id: row.id,
    event_id: row.eventId,
    endpoint_id: row.endpointId,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.nextAttemptAt,
    lease_owner: row.leaseOwner,
    lease_until: row.leaseUntil,
    last_attempt_at: row.lastAttemptAt,
    last_status_code: row.lastStatusCode,
    last_latency_ms: row.lastLatencyMs,
    last_error: row.lastError,
    last_excerpt: row.lastExcerpt,
    last_succeeded: null,
    created_at: row.createdAt,
    completed_at: row.completedAt,
  };
}

export function toWebhookDeliveryRow(r: WebhookDeliveriesTable): WebhookDeliveryRow {
  return {
    id: r.id,
    eventId: r.event_id,
    endpointId: r.endpoint_id,
    status: r.status as WebhookDeliveryStatus,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    leaseOwner: r.lease_owner,
    leaseUntil: r.lease_until,
    lastAttemptAt: r.last_attempt_at,
    lastStatusCode: r.last_status_code,
    lastLatencyMs: r.last_latency_ms,
    lastError: r.last_error,
    lastExcerpt: r.last_excerpt,
    createdAt: r.created_at,
    completedAt: r.completed_at,
  };
}

export function toWebhookAttemptRow(r: WebhookAttemptsTable): WebhookAttemptRow {
  return {
    deliveryId: r.delivery_id,
    attempt: r.attempt,
    endpointId: r.endpoint_id,
    startedAt: r.started_at,
    statusCode: r.status_code,
    latencyMs: r.latency_ms,
    responseExcerpt: r.response_excerpt,
    errorCode: r.error_code,
    succeeded: Number(r.succeeded) === 1,
  };
}
