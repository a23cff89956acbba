import type {
  AccountRow,
  AuditInput,
  EventRow,
  KeyRow,
  RequestLogRow,
  WebhookDeliveryRow,
  WebhookEndpointRow,
} from '../types.js';
import { monotonicId } from './monotonic-id.js';

/** Rows with every field set to something plausible; tests override what they look at. */
export function accountFixture(overrides: Partial<AccountRow> = {}): AccountRow {
  return {
    id: monotonicId('acct'),
    name: 'PayQI Ltd',
    maxKeyAgeDays: 90,
    rateLimits: null,
    metadata: {},
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

let hashCounter = 0;

export function keyFixture(accountId: string | null, overrides: Partial<KeyRow> = {}): KeyRow {
  const id = monotonicId('key');
  return {
    id,
    accountId,
    type: 'secret',
    mode: 'test',
    name: null,
    keyHash: `hash-${id}-${++hashCounter}`,
    pepperVersion: 1,
    hint: 'sk_test_…wxyz',
    scopes: ['*'],
    ipAllowlist: [],
    rateLimits: null,
    metadata: {},
    createdAt: 1_700_000_000_000,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    revokedReason: null,
    rolledTo: null,
    ...overrides,
  };
}

export function auditFixture(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    id: monotonicId('aud'),
    createdAt: 1_700_000_000_000,
    accountId: null,
    actorType: 'system',
    actorId: 'system',
    action: 'test.event',
    targetType: null,
    targetId: null,
    data: {},
    ip: null,
    requestId: null,
    ...overrides,
  };
}

let requestCounter = 0;

/** A request-log line; `createdAt` steps by one ms per call so lines sort as created. */
export function requestLogFixture(overrides: Partial<RequestLogRow> = {}): RequestLogRow {
  return {
    id: monotonicId('req'),
    createdAt: 1_700_000_000_000 + ++requestCounter,
    accountId: null,
    keyId: null,
    mode: 'test',
    method: 'GET',
    route: '/v1/payments',
    status: 200,
    latencyMs: 1.25,
    clientIp: '203.0.113.7',
    userAgent: 'payqi-node/1.0',
    errorCode: null,
    ...overrides,
  };
}

export function webhookEndpointFixture(
  accountId: string,
  overrides: Partial<WebhookEndpointRow> = {},
): WebhookEndpointRow {
  return {
    id: monotonicId('we'),
    accountId,
    mode: 'test',
    url: 'https://hooks.example.com/gatehouse',
    description: null,
    enabledEvents: ['*'],
    signing: 'v1',
    status: 'enabled',
    disabledReason: null,
    secret: 'ciphertext-not-a-secret',
    publicKey: null,
    previousSecret: null,
    previousSecretExpiresAt: null,
    rateLimitPerSecond: null,
    metadata: {},
    failingSince: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

export function eventFixture(accountId: string, overrides: Partial<EventRow> = {}): EventRow {
  return {
    id: monotonicId('evt'),
    accountId,
    mode: 'test',
    type: 'payment.succeeded',
    data: { object: { id: 'pay_1', amount: 1000 } },
    requestId: null,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

export function webhookDeliveryFixture(
  eventId: string,
  endpointId: string,
  overrides: Partial<WebhookDeliveryRow> = {},
): WebhookDeliveryRow {
  return {
    id: monotonicId('del'),
    eventId,
    endpointId,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: 1_700_000_000_000,
    leaseOwner: null,
    leaseUntil: null,
    lastAttemptAt: null,
    lastStatusCode: null,
    lastLatencyMs: null,
    lastError: null,
    lastExcerpt: null,
    createdAt: 1_700_000_000_000,
    completedAt: null,
    ...overrides,
  };
}
