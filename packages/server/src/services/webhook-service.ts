import {
  type CreateWebhookEndpointRequest,
  GatehouseError,
  type KeyMode,
  type ListQuery,
  MAX_WEBHOOK_SECRET_GRACE_SECONDS,
  type RotateWebhookSecretRequest,
  type UpdateWebhookEndpointRequest,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '@gatehouse/contract';
import {
  type Clock,
  generateWebhookSecret,
  generateWebhookSigningKeyPair,
  newId,
  type RandomBytes,
} from '@gatehouse/core';
import type {
  Page,
  Store,
  StoreOps,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookEndpointPatch,
  WebhookEndpointRow,
} from '@gatehouse/store';
import type { OutboxSignal } from '../webhooks/outbox-signal.js';
import type { WebhookSecretBox } from '../webhooks/webhook-secret-box.js';
import type { WebhookUrlGuard } from '../webhooks/webhook-url-guard.js';
import { auditInput } from './audit-input.js';
import { writeEvent } from './event-service.js';
import { type Caller, listScopeOf, requireScope, targetOf } from './principal.js';

export interface WebhookServiceDeps {
  store: Store;
  clock: Clock;
  random?: RandomBytes;
  secretBox: WebhookSecretBox;
  urlGuard: WebhookUrlGuard;
  outbox?: OutboxSignal;
}

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));
/** Deliveries requeued by one bulk redelivery, at most. */
const MAX_BULK_REDELIVERY = 10_000;

/** The public shape of an endpoint; `secret` only from the call that creates or rotates it. */
export function toWebhookEndpoint(row: WebhookEndpointRow, now: number, secret?: string): WebhookEndpoint {
  const previousLive = row.previousSecret !== null && (row.previousSecretExpiresAt ?? 0) > now;
  return {
    id: row.id,
    object: 'webhook_endpoint',
    account: row.accountId,
    mode: row.mode,
    url: row.url,
    description: row.description,
    enabled_events: row.enabledEvents,
    signing: row.signing,
    status: row.status,
    disabled_reason: row.disabledReason,
    rate_limit_per_second: row.rateLimitPerSecond,
    metadata: row.metadata,
    public_key: row.publicKey,
    previous_secret_expires_at: previousLive ? seconds(row.previousSecretExpiresAt) : null,
    failing_since: seconds(row.failingSince),
    created: Math.floor(row.createdAt / 1000),
    ...(secret !== undefined ? { secret } : {}),
  };
}

export function toWebhookDelivery(row: WebhookDeliveryRow, attempts: WebhookAttemptRow[]): WebhookDelivery {
  return {
    id: row.id,
    object: 'webhook_delivery',
    event: row.eventId,
    endpoint: row.endpointId,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: seconds(row.nextAttemptAt),
    last_attempt_at: seconds(row.lastAttemptAt),
    last_status_code: row.lastStatusCode,
    created: Math.floor(row.createdAt / 1000),
    completed_at: seconds(row.completedAt),
    attempt_history: attempts.map((a) => ({
      attempt: a.attempt,
      started: Math.floor(a.startedAt / 1000),
      status_code: a.statusCode,
      latency_ms: a.latencyMs,
      response_excerpt: a.responseExcerpt,
      error_code: a.errorCode,
      succeeded: a.succeeded,
    })),
  };
}

/** An endpoint URL for the audit trail and events: no query string (receivers put tokens there). */
export function urlWithoutQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '';
  }
}

/** What an audit entry records about an endpoint: never a secret. */
function describeEndpoint(row: WebhookEndpointRow): Record<string, unknown> {
  return {
    url: urlWithoutQuery(row.url),
    mode: row.mode,
    enabled_events: row.enabledEvents,
    signing: row.signing,
    status: row.status,
    rate_limit_per_second: row.rateLimitPerSecond,
  };
}

/** Webhook endpoints: create, list, get, update, delete, rotate and reveal the secret, test, deliveries. */
export class WebhookService {
  constructor(private readonly deps: WebhookServiceDeps) {}

  async create(caller: Caller, input: CreateWebhookEndpointRequest): Promise<WebhookEndpoint> {
    requireScope(caller, 'webhook_endpoints:write');
    const { accountId, mode } = targetOf(caller, input.account, input.mode);
    if (!(await this.deps.store.getAccount(accountId))) {
      throw new GatehouseError('resource_missing', { param: 'account' });
    }
    const url = await this.checkUrl(input.url, mode);
    const now = this.deps.clock.now();
    const id = newId('we', now);
    const material = this.newMaterial(input.signing);
    const row: WebhookEndpointRow = {
      id,
      accountId,
      mode,
      url,
      description: input.description ?? null,
      enabledEvents: [...new Set(input.enabled_events)],
      signing: input.signing,
      status: 'enabled',
      disabledReason: null,
      secret: this.deps.secretBox.seal(material.secret, id),
      publicKey: material.publicKey,
      previousSecret: null,
      previousSecretExpiresAt: null,
      rateLimitPerSecond: input.rate_limit_per_second ?? null,
      metadata: input.metadata ?? {},
      failingSince: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.store.transaction(async (tx) => {
      await tx.insertWebhookEndpoint(row);
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.created', accountId, target(id), describeEndpoint(row)),
      );
    });
    return toWebhookEndpoint(row, now, material.shown ?? undefined);
  }

  async list(
    caller: Caller,
    query: ListQuery & { account?: string | undefined; mode?: KeyMode | undefined },
  ): Promise<Page<WebhookEndpoint>> {
    requireScope(caller, 'webhook_endpoints:read');
    const filter = listScopeOf(caller, query.account, query.mode);
    const page = await this.deps.store.listWebhookEndpoints(filter, {
      limit: query.limit,
      startingAfter: query.starting_after,
      endingBefore: query.ending_before,
    });
    const now = this.deps.clock.now();
    return { data: page.data.map((r) => toWebhookEndpoint(r, now)), hasMore: page.hasMore };
  }

  async get(caller: Caller, id: string): Promise<WebhookEndpoint> {
    requireScope(caller, 'webhook_endpoints:read');
    return toWebhookEndpoint(await visibleEndpoint(caller, this.deps.store, id), this.deps.clock.now());
  }

  async update(caller: Caller, id: string, input: UpdateWebhookEndpointRequest): Promise<WebhookEndpoint> {
    requireScope(caller, 'webhook_endpoints:write');
    const before = await visibleEndpoint(caller, this.deps.store, id);
    // DNS runs outside the transaction; the URL is checked against the endpoint's mode.
    const url = input.url !== undefined ? await this.checkUrl(input.url, before.mode) : undefined;
    const now = this.deps.clock.now();
    const updated = await this.deps.store.transaction(async (tx) => {
      const row = await visibleEndpoint(caller, tx, id);
      const patch: WebhookEndpointPatch = { updatedAt: now };
      if (url !== undefined) patch.url = url;
      if (input.enabled_events !== undefined) patch.enabledEvents = [...new Set(input.enabled_events)];
      if (input.description !== undefined) patch.description = input.description;
      if (input.rate_limit_per_second !== undefined) patch.rateLimitPerSecond = input.rate_limit_per_second;
      if (input.metadata !== undefined) patch.metadata = input.metadata;
      if (input.status !== undefined && input.status !== row.status) {
        patch.status = input.status;
        if (input.status === 'enabled') {
          patch.disabledReason = null;
          patch.failingSince = null;
        } else {
          patch.disabledReason = 'disabled_by_user';
          await tx.abandonWebhookDeliveries(id, now);
        }
      }
      const next = (await tx.updateWebhookEndpoint(id, patch)) as WebhookEndpointRow;
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.updated', row.accountId, target(id), {
          changed: Object.keys(input).sort(),
          ...describeEndpoint(next),
        }),
      );
      return next;
    });
    return toWebhookEndpoint(updated, now);
  }

  async delete(
    caller: Caller,
    id: string,
  ): Promise<{ id: string; object: 'webhook_endpoint'; deleted: true }> {
    requireScope(caller, 'webhook_endpoints:write');
    const now = this.deps.clock.now();
    await this.deps.store.transaction(async (tx) => {
      const row = await visibleEndpoint(caller, tx, id);
      await tx.deleteWebhookEndpoint(id);
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.deleted', row.accountId, target(id), describeEndpoint(row)),
      );
    });
    return { id, object: 'webhook_endpoint', deleted: true };
  }

  /**
   * A new secret (or v1a key pair) now; the old one keeps signing beside it for
   * `expires_in_seconds` (default and maximum 24 h; 0 stops it at once). One rotation at a
   * time: while a rotated-out secret still signs, a rotation that would keep the current one
   * too is refused (409), since the older secret would stop before the time it was promised;
   * a rotation with 0 ends every old secret now (a leaked secret).
   */
  async rotateSecret(
    caller: Caller,
    id: string,
    input: RotateWebhookSecretRequest,
  ): Promise<WebhookEndpoint> {
    requireScope(caller, 'webhook_endpoints:write');
    const now = this.deps.clock.now();
    const grace = input.expires_in_seconds ?? MAX_WEBHOOK_SECRET_GRACE_SECONDS;
    const result = await this.deps.store.transaction(async (tx) => {
      const row = await visibleEndpoint(caller, tx, id);
      if (grace > 0 && row.previousSecret !== null && (row.previousSecretExpiresAt ?? 0) > now)
        throw new GatehouseError('webhook_secret_rotation_in_progress');
      const material = this.newMaterial(row.signing);
      const next = (await tx.updateWebhookEndpoint(id, {
        secret: this.deps.secretBox.seal(material.secret, id),
        publicKey: material.publicKey,
        previousSecret: grace > 0 ? row.secret : null,
        previousSecretExpiresAt: grace > 0 ? now + grace * 1000 : null,
        updatedAt: now,
      })) as WebhookEndpointRow;
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.secret_rotated', row.accountId, target(id), {
          signing: row.signing,
          previous_secret_expires_at: grace > 0 ? seconds(now + grace * 1000) : null,
        }),
      );
      return { next, shown: material.shown };
    });
    return toWebhookEndpoint(result.next, now, result.shown ?? undefined);
  }

  /** The current secret (v1) or public key (v1a); audited, and needs the write scope. */
  async revealSecret(caller: Caller, id: string) {
    requireScope(caller, 'webhook_endpoints:write');
    const now = this.deps.clock.now();
    const row = await this.deps.store.transaction(async (tx) => {
      const found = await visibleEndpoint(caller, tx, id);
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.secret_revealed', found.accountId, target(id), {
          signing: found.signing,
        }),
      );
      return found;
    });
    const previousLive = row.previousSecret !== null && (row.previousSecretExpiresAt ?? 0) > now;
    return {
      object: 'webhook_endpoint_secret' as const,
      endpoint: row.id,
      signing: row.signing,
      secret: row.signing === 'v1' ? this.deps.secretBox.open(row.secret, row.id) : null,
      public_key: row.publicKey,
      previous_secret_expires_at: previousLive ? seconds(row.previousSecretExpiresAt) : null,
    };
  }

  /** Sends a `webhook_endpoint.test` event to this endpoint only, whatever it subscribes to. */
  async test(caller: Caller, id: string): Promise<WebhookDelivery> {
    requireScope(caller, 'webhook_endpoints:write');
    const now = this.deps.clock.now();
    const delivery = await this.deps.store.transaction(async (tx) => {
      const row = await visibleEndpoint(caller, tx, id);
      if (row.status !== 'enabled') throw new GatehouseError('webhook_endpoint_disabled');
      const { event, deliveries } = await writeEvent(
        tx,
        {
          accountId: row.accountId,
          mode: row.mode,
          type: 'webhook_endpoint.test',
          data: { object: { endpoint: row.id, message: 'A test event from Gatehouse.' } },
          requestId: caller.requestId,
        },
        now,
        row,
      );
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.tested', row.accountId, target(id), { event: event.id }),
      );
      return deliveries[0] as WebhookDeliveryRow;
    });
    this.deps.outbox?.notify();
    return toWebhookDelivery(delivery, []);
  }

  async deliveries(
    caller: Caller,
    id: string,
    query: ListQuery & { status?: WebhookDeliveryRow['status'] | undefined },
  ): Promise<Page<WebhookDelivery>> {
    requireScope(caller, 'webhook_endpoints:read');
    await visibleEndpoint(caller, this.deps.store, id);
    const page = await this.deps.store.listWebhookDeliveries(
      { endpointId: id, status: query.status },
      { limit: query.limit, startingAfter: query.starting_after, endingBefore: query.ending_before },
    );
    const attempts = await this.deps.store.listWebhookAttempts(page.data.map((d) => d.id));
    const byDelivery = new Map<string, WebhookAttemptRow[]>();
    for (const a of attempts) byDelivery.set(a.deliveryId, [...(byDelivery.get(a.deliveryId) ?? []), a]);
    return {
      data: page.data.map((d) => toWebhookDelivery(d, byDelivery.get(d.id) ?? [])),
      hasMore: page.hasMore,
    };
  }

  /** Failed and abandoned deliveries of events since `since` (Unix s) are sent again now. */
  async redeliverFailed(caller: Caller, id: string, since: number): Promise<number> {
    requireScope(caller, 'webhook_endpoints:write');
    const now = this.deps.clock.now();
    const requeued = await this.deps.store.transaction(async (tx) => {
      const row = await visibleEndpoint(caller, tx, id);
      if (row.status !== 'enabled') throw new GatehouseError('webhook_endpoint_disabled');
      const n = await tx.requeueWebhookDeliveries(
        { endpointId: id, statuses: ['failed', 'abandoned'], since: since * 1000 },
        now,
        MAX_BULK_REDELIVERY,
      );
      await tx.appendAudit(
        auditInput(caller, now, 'webhook_endpoint.redelivered', row.accountId, target(id), {
          since,
          requeued: n,
        }),
      );
      return n;
    });
    if (requeued > 0) this.deps.outbox?.notify();
    return requeued;
  }

  /** The SSRF guard's verdict (https only in live mode, public addresses unless allowed). */
  private checkUrl(url: string, mode: KeyMode): Promise<string> {
    return this.deps.urlGuard.check(url, mode);
  }

  /** The secret to store (sealed) and what the caller is shown: a whsec_ secret, or nothing for v1a. */
  private newMaterial(signing: WebhookEndpointRow['signing']): {
    secret: string;
    publicKey: string | null;
    shown: string | null;
  } {
    if (signing === 'v1a') {
      const pair = generateWebhookSigningKeyPair(this.deps.random);
      return { secret: pair.privateKey, publicKey: pair.publicKey, shown: null };
    }
    const secret = generateWebhookSecret(this.deps.random);
    return { secret, publicKey: null, shown: secret };
  }
}

function target(id: string) {
  return { type: 'webhook_endpoint', id };
}

/** Another account's or mode's endpoint is "no such object". */
export async function visibleEndpoint(
  caller: Caller,
  ops: StoreOps,
  id: string,
): Promise<WebhookEndpointRow> {
  const row = await ops.getWebhookEndpoint(id);
  const p = caller.principal;
  if (!row || (p.kind === 'account' && (row.accountId !== p.accountId || row.mode !== p.mode))) {
    throw new GatehouseError('resource_missing', { param: 'id' });
  }
  return row;
}
