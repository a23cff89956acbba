import { randomBytes } from 'node:crypto';
import {
  type Clock,
  newId,
  nextAttemptAt,
  parseWebhookSecret,
  webhookDisableReason,
  webhookHeaders,
} from '@gatehouse/core';
import type {
  EventRow,
  Store,
  StoreOps,
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookEndpointRow,
} from '@gatehouse/store';
import type { Logger } from 'pino';
import { eventPayload, writeEvent } from '../services/event-service.js';
import { urlWithoutQuery } from '../services/webhook-service.js';
import type { DeliveryClient, DeliveryResult } from './delivery-client.js';
import type { OutboxSignal } from './outbox-signal.js';
import type { WebhookSecretBox } from './webhook-secret-box.js';
import type { WebhookUrlGuard } from './webhook-url-guard.js';

export interface WebhookDispatcherOptions {
  store: Store;
  clock: Clock;
  /** uniform in [0, 1): the retry jitter */
  random?: () => number;
  secretBox: WebhookSecretBox;
  urlGuard: WebhookUrlGuard;
  client: DeliveryClient;
  outbox?: OutboxSignal;
  logger?: Logger;
  /** this worker's lease name (default: a random one per process) */
  owner?: string;
  /** deliveries claimed per query */
  batchSize?: number;
  /** attempts in flight at once, over every endpoint */
  maxInFlight?: number;
  /** attempts in flight at once to one endpoint */
  perEndpointConcurrency?: number;
  /** how long a claim holds a delivery; another worker takes it over after this */
  leaseMs?: number;
  /** how often to look for due deliveries when nothing signals new ones */
  pollMs?: number;
}

const SYSTEM_ACTOR = 'webhook-dispatcher';

/**
 * Delivers the outbox: claims due deliveries with a lease, signs and sends each attempt to the
 * checked address, and records the outcome with the next attempt's time (the retry schedule),
 * all in one transaction per attempt. At-least-once: a worker that dies leaves its leases to
 * run out, and another worker sends those deliveries again with the same `webhook-id`.
 */
export class WebhookDispatcher {
  readonly owner: string;
  readonly #o: Required<Omit<WebhookDispatcherOptions, 'outbox' | 'logger' | 'owner'>> & {
    outbox: OutboxSignal | undefined;
    logger: Logger | undefined;
  };
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /** claimed, not yet started, by endpoint */
  readonly #queues = new Map<string, WebhookDeliveryRow[]>();
  readonly #active = new Map<string, number>();
  /** per-endpoint rate: the earliest time the next attempt may start */
  readonly #nextSlot = new Map<string, number>();
  #wakeLoop: (() => void) | undefined;
  #sent = 0;

  constructor(options: WebhookDispatcherOptions) {
    this.owner = options.owner ?? `wd_${randomBytes(8).toString('hex')}`;
    this.#o = {
      store: options.store,
      clock: options.clock,
      random: options.random ?? Math.random,
      secretBox: options.secretBox,
      urlGuard: options.urlGuard,
      client: options.client,
      outbox: options.outbox,
      logger: options.logger,
      batchSize: options.batchSize ?? 50,
      maxInFlight: options.maxInFlight ?? 64,
      perEndpointConcurrency: options.perEndpointConcurrency ?? 4,
      leaseMs: options.leaseMs ?? 120_000,
      pollMs: options.pollMs ?? 500,
    };
  }

  /** Attempts finished (recorded) by this worker. */
  get attemptsMade(): number {
    return this.#sent;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /**
   * Stops claiming, gives back the leases of deliveries not yet started, and waits for the
   * attempts in flight to be sent and recorded (each is bounded by the client's total timeout).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wakeLoop?.();
    this.#o.outbox?.notify();
    await this.#loop;
    const queued = [...this.#queues.values()].flat().map((d) => d.id);
    this.#queues.clear();
    if (queued.length > 0) await this.#o.store.releaseWebhookLeases(this.owner, queued).catch(() => 0);
    await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * One claim, and every attempt it started, to the end (for tests and tools). Returns how
   * many deliveries were claimed.
   */
  async runOnce(): Promise<number> {
    const claimed = await this.#claim();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    return claimed;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let claimed = 0;
      try {
        claimed = await this.#claim();
      } catch (err) {
        this.#o.logger?.error({ err }, 'webhook claim failed');
      }
      if (!this.#running) break;
      if (claimed > 0 && this.#capacity() > 0) continue;
      // Wait for a signal of new deliveries, a free slot, or the poll interval.
      await Promise.race([
        this.#o.outbox ? this.#o.outbox.wait(this.#o.pollMs) : sleep(this.#o.pollMs),
        new Promise<void>((resolve) => {
          this.#wakeLoop = resolve;
        }),
      ]);
      this.#wakeLoop = undefined;
    }
  }

  #capacity(): number {
    const queued = [...this.#queues.values()].reduce((n, q) => n + q.length, 0);
    return this.#o.maxInFlight - this.#inFlight.size - queued;
  }

  async #claim(): Promise<number> {
    const room = Math.min(this.#capacity(), this.#o.batchSize);
    if (room <= 0) return 0;
    const now = this.#o.clock.now();
    const claimed = await this.#o.store.claimDueWebhookDeliveries(this.owner, now, room, this.#o.leaseMs);
    for (const delivery of claimed) {
      const queue = this.#queues.get(delivery.endpointId) ?? [];
      queue.push(delivery);
      this.#queues.set(delivery.endpointId, queue);
    }
    for (const endpointId of new Set(claimed.map((d) => d.endpointId))) this.#pump(endpointId);
    return claimed.length;
  }

  /** Starts queued attempts for an endpoint while it has free concurrency. */
  #pump(endpointId: string): void {
    const queue = this.#queues.get(endpointId);
    while (
      queue &&
      queue.length > 0 &&
      (this.#active.get(endpointId) ?? 0) < this.#o.perEndpointConcurrency
    ) {
      const delivery = queue.shift() as WebhookDeliveryRow;
      this.#active.set(endpointId, (this.#active.get(endpointId) ?? 0) + 1);
      const task = this.#attempt(delivery)
        .catch((err: unknown) => {
          this.#o.logger?.error({ err, delivery: delivery.id }, 'webhook attempt failed to record');
          // leave it to the lease: another claim retries it
        })
        .finally(() => {
          this.#inFlight.delete(task);
          this.#active.set(endpointId, (this.#active.get(endpointId) ?? 1) - 1);
          this.#pump(endpointId);
          this.#wakeLoop?.();
        });
      this.#inFlight.add(task);
    }
    if (queue && queue.length === 0) this.#queues.delete(endpointId);
  }

  async #attempt(delivery: WebhookDeliveryRow): Promise<void> {
    const { store, clock } = this.#o;
    const endpoint = await store.getWebhookEndpoint(delivery.endpointId);
    if (!endpoint) return; // deleted with its deliveries
    if (endpoint.status !== 'enabled') {
      await store.abandonWebhookDeliveries(endpoint.id, clock.now());
      return;
    }
    if (endpoint.rateLimitPerSecond !== null) {
      // Over the rate: give the delivery back, due when the next slot opens (no attempt counted).
      const now = clock.now();
      const slot = this.#nextSlot.get(endpoint.id) ?? now;
      if (slot > now) {
        await store.releaseWebhookLeases(this.owner, [delivery.id], slot);
        return;
      }
      this.#nextSlot.set(endpoint.id, now + Math.ceil(1000 / endpoint.rateLimitPerSecond));
    }
    const event = await store.getEvent(delivery.eventId);
    if (!event) return; // cannot happen: written in one transaction
    const startedAt = clock.now();
    const result = await this.#send(endpoint, event, startedAt);
    await this.#record(delivery, endpoint, startedAt, result);
  }

  async #send(endpoint: WebhookEndpointRow, event: EventRow, at: number): Promise<DeliveryResult> {
    let target: Awaited<ReturnType<WebhookUrlGuard['resolve']>>;
    try {
      target = await this.#o.urlGuard.resolve(endpoint.url, endpoint.mode);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      return {
        statusCode: null,
        latencyMs: 0,
        excerpt: null,
        errorCode: code === 'webhook_url_forbidden' ? 'url_forbidden' : 'dns_error',
        retryAfterMs: undefined,
      };
    }
    const body = eventPayload(event);
    const keys = this.#signingKeys(endpoint, at);
    const headers = webhookHeaders({
      id: event.id,
      timestamp: Math.floor(at / 1000),
      body,
      ...(endpoint.signing === 'v1'
        ? { secrets: keys.map((k) => parseWebhookSecret(k)) }
        : { privateKeys: keys }),
    });
    return this.#o.client.send({ target, headers: { ...headers }, body });
  }

  /** The current secret, then the rotated-out one while its grace period runs. */
  #signingKeys(endpoint: WebhookEndpointRow, now: number): string[] {
    const box = this.#o.secretBox;
    const keys = [box.open(endpoint.secret, endpoint.id)];
    if (endpoint.previousSecret !== null && (endpoint.previousSecretExpiresAt ?? 0) > now) {
      keys.push(box.open(endpoint.previousSecret, endpoint.id));
    }
    return keys;
  }

  async #record(
    delivery: WebhookDeliveryRow,
    endpoint: WebhookEndpointRow,
    startedAt: number,
    result: DeliveryResult,
  ): Promise<void> {
    const { store, clock } = this.#o;
    const now = clock.now();
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const number = delivery.attempts + 1;
    const attempt: WebhookAttemptRow = {
      deliveryId: delivery.id,
      attempt: number,
      endpointId: endpoint.id,
      startedAt,
      statusCode: result.statusCode,
      latencyMs: Math.round(result.latencyMs * 100) / 100,
      responseExcerpt: result.excerpt,
      errorCode: ok
        ? null
        : (result.errorCode ?? (result.statusCode !== null ? 'http_status' : 'connection_error')),
      succeeded: ok,
    };
    const retryAt = ok
      ? null
      : nextAttemptAt(number, now, this.#o.random, {
          ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
        });
    const disabled = await store.transaction(async (tx) => {
      const recorded = await tx.completeWebhookAttempt({
        leaseOwner: this.owner,
        attempt,
        status: ok ? 'succeeded' : retryAt === null ? 'failed' : 'pending',
        nextAttemptAt: retryAt,
        completedAt: ok || retryAt === null ? now : null,
      });
      if (!recorded) return false;
      const current = await tx.getWebhookEndpoint(endpoint.id);
      if (!current) return false;
      if (ok) {
        if (current.failingSince !== null)
          await tx.updateWebhookEndpoint(endpoint.id, { failingSince: null });
        return false;
      }
      const failingSince = current.failingSince ?? startedAt;
      if (current.failingSince === null) await tx.updateWebhookEndpoint(endpoint.id, { failingSince });
      const reason = webhookDisableReason({ failingSince, now, lastStatus: result.statusCode });
      if (reason === null || current.status !== 'enabled') return false;
      await disableEndpoint(tx, current, reason, now);
      return true;
    });
    this.#sent++;
    if (disabled) {
      this.#o.logger?.warn({ endpoint: endpoint.id }, 'webhook endpoint disabled');
      this.#o.outbox?.notify();
    }
  }
}

/** Disables an endpoint, abandons its pending deliveries, and tells the account (event + audit). */
async function disableEndpoint(
  tx: StoreOps,
  endpoint: WebhookEndpointRow,
  reason: 'gone' | 'failing',
  now: number,
): Promise<void> {
  const disabledReason = reason === 'gone' ? 'endpoint_gone' : 'failing_5_days';
  const updated = await tx.updateWebhookEndpoint(endpoint.id, {
    status: 'disabled',
    disabledReason,
    updatedAt: now,
  });
  await tx.abandonWebhookDeliveries(endpoint.id, now);
  await writeEvent(
    tx,
    {
      accountId: endpoint.accountId,
      mode: endpoint.mode,
      type: 'webhook_endpoint.disabled',
      data: {
        object: {
          id: endpoint.id,
          url: urlWithoutQuery(endpoint.url),
          status: updated?.status ?? 'disabled',
          disabled_reason: disabledReason,
          failing_since: endpoint.failingSince === null ? null : Math.floor(endpoint.failingSince / 1000),
        },
      },
      requestId: null,
    },
    now,
  );
  await tx.appendAudit({
    id: newId('aud', now),
    createdAt: now,
    accountId: endpoint.accountId,
    actorType: 'system',
    actorId: SYSTEM_ACTOR,
    action: 'webhook_endpoint.disabled',
    targetType: 'webhook_endpoint',
    targetId: endpoint.id,
    data: { reason: disabledReason, url: urlWithoutQuery(endpoint.url) },
    ip: null,
    requestId: null,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
