import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import {
  type Clock,
  newId,
  nextAttemptAt,
  parseWebhookSecret,
  parseWebhookSigningKey,
  type WebhookHeaders,
  webhookDisableReason,
  webhookHeaders,
} from '@gatehouse/core';
import type {
  ClaimedWebhookDelivery,
  CompleteAttemptInput,
  Store,
  StoreOps,
  WebhookAttemptRow,
  WebhookEndpointRow,
  WebhookOutbox,
} from '@gatehouse/store';
import type { Logger } from 'pino';
import { eventPayload, writeEvent } from '../services/event-service.js';
import { urlWithoutQuery } from '../services/webhook-service.js';
import type { DeliveryClient, DeliveryResult } from './delivery-client.js';
import type { OutboxSignal } from './outbox-signal.js';
import type { WebhookSecretBox } from './webhook-secret-box.js';
import type { WebhookTarget, WebhookUrlGuard } from './webhook-url-guard.js';

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
  /** the longest an attempt's outcome waits to be written with others (ms) */
  flushMs?: number;
  /** outcomes written in one transaction at most; a full batch is written at once */
  flushRows?: number;
}

const SYSTEM_ACTOR = 'webhook-dispatcher';
/** how often queued deliveries' endpoints are read again (see `#revalidate`) */
const REVALIDATE_MS = 1_000;
/** an endpoint with this many deliveries waiting in its queue (or 4 × its concurrency) is not claimed for */
const QUEUE_PER_ENDPOINT_MIN = 16;
/** tries of one batch of outcomes before it is left to the leases (the attempts are sent again) */
const FLUSH_TRIES = 3;

/** What one claimed delivery needs to be sent: its event's payload and its endpoint's checked address. */
interface Job {
  delivery: ClaimedWebhookDelivery;
  /** when this worker's lease on the delivery runs out */
  leaseUntil: number;
  body: string;
  target: Promise<WebhookTarget | { errorCode: string }>;
}

/**
 * What this process keeps of an endpoint between claims: the row as of the latest claim that
 * named it, and its signing keys opened and parsed, reused while the ciphertexts stay the same.
 */
interface CachedEndpoint {
  row: WebhookEndpointRow;
  current: Uint8Array | KeyObject;
  previous: Uint8Array | KeyObject | undefined;
}

/** An attempt's outcome on its way to the database. */
interface Completion {
  input: CompleteAttemptInput;
  endpointId: string;
  ok: boolean;
  statusCode: number | null;
  startedAt: number;
}

/**
 * Delivers the outbox. Claims due deliveries in batches with a lease, with their events and
 * endpoints read in the claim's transaction (the endpoints kept in memory, the signing keys
 * opened once per secret), signs and sends each attempt to the checked address over the
 * endpoint's keep-alive pool, and writes the outcomes (attempt rows, the deliveries' next
 * state, the endpoints' failure state) in one transaction per batch of outcomes, flushed every
 * `flushMs` or `flushRows`. Nothing is counted done before its transaction commits: a worker
 * that dies leaves its leases to run out, and another worker sends those deliveries again with
 * the same `webhook-id` (at-least-once).
 */
export class WebhookDispatcher {
  readonly owner: string;
  readonly #o: Required<Omit<WebhookDispatcherOptions, 'outbox' | 'logger' | 'owner'>> & {
    outbox: OutboxSignal | undefined;
    logger: Logger | undefined;
  };
  #running = false;
  #loop: Promise<void> | undefined;
  /** sends, lease releases and abandons under way */
  readonly #inFlight = new Set<Promise<void>>();
  #sending = 0;
  /** claimed, not yet started, by endpoint */
  readonly #queues = new Map<string, Job[]>();
  #queued = 0;
  /**
   * Every delivery this worker holds, by id, from its claim until it is sent and its outcome
   * written, or given back: a claim that finds one of them again (its lease ran out while it
   * waited here) renews the lease of the job already held instead of queueing a second one.
   */
  readonly #holding = new Map<string, Job>();
  /** endpoints with queued jobs that wait only for a free slot over all endpoints */
  readonly #starved = new Set<string>();
  readonly #active = new Map<string, number>();
  readonly #endpoints = new Map<string, CachedEndpoint>();
  /** per-endpoint rate: the earliest time the next attempt may start */
  readonly #nextSlot = new Map<string, number>();
  #wakeLoop: (() => void) | undefined;
  /** the next claim a rate-limited endpoint asked for (see #claimAt) */
  #claimTimer: NodeJS.Timeout | undefined;
  #claimTimerAt = 0;
  /** the slots asked for and not reached yet (one per rate-limited pump that gave deliveries back) */
  #slots: number[] = [];
  #revalidatedAt = 0;
  /** the last claim filled its room: more may be due at once */
  #moreDue = false;
  /**
   * Something made deliveries claimable since the current claim began (a full endpoint's queue
   * ran down, a rate slot opened): claim again after it, whatever it found.
   */
  #claimAgain = false;
  /**
   * Endpoints that the last claim left out because their queues were full, when it came back
   * short: deliveries may still be due for them, to be claimed once their queues run down.
   */
  #skipped = new Set<string>();
  /** an endpoint with this many jobs queued is left out of claims */
  readonly #full: number;
  #sent = 0;
  // outcomes not yet written
  #outcomes: Completion[] = [];
  #flushing: Promise<void> | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  /** the claims and the successes' records (a worker thread on a SQLite file), opened on first use */
  #io: WebhookOutbox | undefined;

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
      batchSize: options.batchSize ?? 256,
      maxInFlight: options.maxInFlight ?? 64,
      perEndpointConcurrency: options.perEndpointConcurrency ?? 4,
      leaseMs: options.leaseMs ?? 120_000,
      pollMs: options.pollMs ?? 500,
      flushMs: options.flushMs ?? 5,
      flushRows: options.flushRows ?? 500,
    };
    this.#full = Math.max(QUEUE_PER_ENDPOINT_MIN, 4 * this.#o.perEndpointConcurrency);
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
   * Stops claiming, gives back the leases of deliveries not yet started, waits for the
   * attempts in flight to be sent (each is bounded by the client's total timeout), and writes
   * every outcome.
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#claimTimer);
    this.#claimTimer = undefined;
    this.#slots = [];
    this.#wakeLoop?.();
    this.#o.outbox?.notify();
    await this.#loop;
    const queued = [...this.#queues.values()].flat().map((job) => job.delivery.id);
    for (const id of queued) this.#holding.delete(id);
    this.#queues.clear();
    this.#starved.clear();
    this.#queued = 0;
    if (queued.length > 0) await this.#o.store.releaseWebhookLeases(this.owner, queued).catch(() => 0);
    await this.#settle();
  }

  /** stop(), then lets go of the outbox's connection (start() opens it again). */
  async close(): Promise<void> {
    await this.stop();
    const io = this.#io;
    this.#io = undefined;
    await io?.close();
  }

  #outbox(): WebhookOutbox {
    this.#io ??= this.#o.store.openWebhookOutbox();
    return this.#io;
  }

  /**
   * One claim, and every attempt it started, to the end and written (for tests and tools).
   * Returns how many deliveries were claimed.
   */
  async runOnce(): Promise<number> {
    const claimed = await this.#claim(Math.min(this.#room(), this.#o.batchSize));
    await this.#settle();
    return claimed;
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#drain();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.#revalidate();
        if (this.#wantsMore()) {
          this.#claimAgain = false;
          await this.#claim(Math.min(this.#room(), this.#o.batchSize));
        }
      } catch (err) {
        this.#moreDue = false;
        this.#o.logger?.error({ err }, 'webhook claim failed');
      }
      if (!this.#running) break;
      if (this.#claimNow()) continue;
      // Wait for a signal of new deliveries, room for more when more are due, or the poll interval.
      const waiting = new AbortController();
      await Promise.race([
        this.#o.outbox ? this.#o.outbox.wait(this.#o.pollMs, waiting.signal) : sleep(this.#o.pollMs),
        new Promise<void>((resolve) => {
          this.#wakeLoop = resolve;
        }),
      ]);
      waiting.abort();
      this.#wakeLoop = undefined;
    }
  }

  /**
   * Reads again, at most every REVALIDATE_MS, the endpoints that still have deliveries queued
   * here (another request or instance may have changed them since their claim): a deleted or
   * disabled endpoint's queue is dropped (its deliveries went with it, or are abandoned), and
   * one whose URL or keys changed gives its queue back to be claimed, resolved and signed anew.
   */
  async #revalidate(): Promise<void> {
    const { store, clock } = this.#o;
    const now = clock.now();
    if (this.#queues.size === 0 || now - this.#revalidatedAt < REVALIDATE_MS) return;
    this.#revalidatedAt = now;
    const ids = [...this.#queues.keys()];
    const rows = new Map((await store.getWebhookEndpoints(ids)).map((r) => [r.id, r]));
    const giveBack: string[] = [];
    for (const id of ids) {
      const row = rows.get(id);
      const cached = this.#endpoints.get(id);
      if (
        row &&
        cached &&
        row.status === 'enabled' &&
        row.url === cached.row.url &&
        sameKeys(row, cached.row)
      ) {
        cached.row = row; // the rate and failure state as they are now
        continue;
      }
      const queue = this.#queues.get(id) ?? [];
      this.#dropQueue(id);
      if (!row) this.#endpoints.delete(id);
      else if (row.status !== 'enabled') {
        this.#endpoints.delete(id);
        this.#track(store.abandonWebhookDeliveries(id, now).then(() => {}));
      } else giveBack.push(...queue.map((job) => job.delivery.id));
    }
    if (giveBack.length > 0) await store.releaseWebhookLeases(this.owner, giveBack);
  }

  /** More may be due than the last claim took, and there is room for it. */
  #claimNow(): boolean {
    return (this.#moreDue || this.#claimAgain) && this.#wantsMore();
  }

  /** Forgets an endpoint's queue; its jobs are given back, abandoned or gone (the caller's part). */
  #dropQueue(endpointId: string): void {
    const queue = this.#queues.get(endpointId);
    if (queue === undefined) return;
    this.#queued -= queue.length;
    for (const job of queue) this.#holding.delete(job.delivery.id);
    this.#queues.delete(endpointId);
    this.#starved.delete(endpointId);
  }

  /** Deliveries this worker holds a lease on and has not written back yet. */
  #held(): number {
    return this.#queued + this.#sending + this.#outcomes.length;
  }

  /**
   * How many more deliveries this worker may claim: up to a batch queued ahead of the sends
   * while a claim and a batch of outcomes are on their way to the database.
   */
  #room(): number {
    return this.#o.maxInFlight + 4 * this.#o.batchSize - this.#held();
  }

  /**
   * Claim again when there is room for a batch and either less than a batch is queued (the next
   * batch arrives before the sends run dry, however long a claim takes) or a sending slot is
   * free that nothing queued can take: every queued job waits for its own endpoint (slow
   * receivers with backlogs), and other endpoints may have deliveries due.
   */
  #wantsMore(): boolean {
    return (
      (this.#queued < this.#o.batchSize || this.#sending < this.#o.maxInFlight) &&
      this.#room() >= Math.min(this.#o.batchSize, 64)
    );
  }

  async #claim(room: number): Promise<number> {
    if (room <= 0) return 0;
    const { store, clock } = this.#o;
    const claimedAt = clock.now();
    const leaseUntil = claimedAt + this.#o.leaseMs;
    // An endpoint with a full queue (a slow or dead receiver with a backlog) is left out of the
    // claim, so its oldest deliveries cannot take every claim and starve the other endpoints.
    const skip: string[] = [];
    for (const [endpointId, queue] of this.#queues) if (queue.length >= this.#full) skip.push(endpointId);
    const {
      deliveries: claimed,
      events,
      endpoints,
    } = await this.#outbox().claim(this.owner, claimedAt, room, this.#o.leaseMs, skip);
    this.#moreDue = claimed.length === room;
    this.#skipped = this.#moreDue || skip.length === 0 ? new Set() : new Set(skip);
    // one that ran down while the claim was under way is not pumped again to notice it
    for (const endpointId of this.#skipped) {
      if ((this.#queues.get(endpointId)?.length ?? 0) >= this.#full) continue;
      this.#skipped.delete(endpointId);
      this.#claimAgain = true;
    }
    if (claimed.length === 0) return 0;
    const bodies = new Map(events.map((e) => [e.id, eventPayload(e)]));
    const now = clock.now();
    // The address of each endpoint is resolved and checked once per claim, at delivery time.
    const targets = new Map<string, Job['target']>();
    for (const row of endpoints) {
      const before = this.#endpoints.get(row.id)?.row;
      const cached = this.#cacheEndpoint(row);
      if (row.status !== 'enabled') {
        // its pending deliveries are abandoned: the ones queued here from earlier claims too
        this.#dropQueue(row.id);
        this.#endpoints.delete(row.id);
        this.#track(store.abandonWebhookDeliveries(row.id, now).then(() => {}));
        continue;
      }
      if (!cached) continue;
      const target = this.#resolve(row);
      targets.set(row.id, target);
      // the URL changed since the jobs queued here were resolved: they go to the new one (the
      // keys they are signed with are read when each is sent)
      if (before !== undefined && before.url !== row.url)
        for (const job of this.#queues.get(row.id) ?? []) job.target = target;
    }
    for (const delivery of claimed) {
      const holding = this.#holding.get(delivery.id);
      if (holding !== undefined) {
        // still here from an earlier claim whose lease ran out: the claim renewed that lease
        holding.leaseUntil = leaseUntil;
        holding.delivery = delivery; // as it is now (another worker may have attempted it meanwhile)
        continue;
      }
      const target = targets.get(delivery.endpointId);
      const body = bodies.get(delivery.eventId);
      // a deleted endpoint took its deliveries with it; an event is written with its deliveries
      if (!target || body === undefined) continue;
      const queue = this.#queues.get(delivery.endpointId);
      const job = { delivery, leaseUntil, body, target };
      if (queue) queue.push(job);
      else this.#queues.set(delivery.endpointId, [job]);
      this.#queued++;
      this.#holding.set(delivery.id, job);
    }
    for (const endpointId of targets.keys()) this.#pump(endpointId);
    return claimed.length;
  }

  /** Keeps the row; opens the signing keys again only when they changed. Undefined if they cannot be opened. */
  #cacheEndpoint(row: WebhookEndpointRow): CachedEndpoint | undefined {
    const cached = this.#endpoints.get(row.id);
    if (cached && sameKeys(row, cached.row)) {
      cached.row = row;
      return cached;
    }
    try {
      const open = (ciphertext: string) => {
        const text = this.#o.secretBox.open(ciphertext, row.id);
        return row.signing === 'v1' ? parseWebhookSecret(text) : parseWebhookSigningKey(text);
      };
      const entry: CachedEndpoint = {
        row,
        current: open(row.secret),
        previous: row.previousSecret === null ? undefined : open(row.previousSecret),
      };
      this.#endpoints.set(row.id, entry);
      return entry;
    } catch (err) {
      this.#endpoints.delete(row.id);
      this.#o.logger?.error({ err, endpoint: row.id }, 'webhook signing key cannot be opened');
      return undefined;
    }
  }

  async #resolve(row: WebhookEndpointRow): Promise<WebhookTarget | { errorCode: string }> {
    try {
      return await this.#o.urlGuard.resolve(row.url, row.mode, this.#o.client.lookupTimeoutMs);
    } catch (err) {
      const { code, reason } = (err ?? {}) as { code?: unknown; reason?: unknown };
      if (code === 'webhook_url_forbidden') return { errorCode: 'url_forbidden' };
      return { errorCode: reason === 'lookup_timeout' ? 'dns_timeout' : 'dns_error' };
    }
  }

  #track(task: Promise<void>): void {
    const tracked = task.catch((err: unknown) => {
      this.#o.logger?.error({ err }, 'webhook dispatcher step failed');
    });
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
  }

  /** Starts queued attempts for an endpoint while it (and the worker) has free concurrency. */
  #pump(endpointId: string): void {
    const queue = this.#queues.get(endpointId);
    if (!queue) return;
    const endpoint = this.#endpoints.get(endpointId)?.row;
    const rate = endpoint?.rateLimitPerSecond ?? null;
    const overRate: string[] = [];
    const stale: string[] = [];
    let slot = 0;
    while (queue.length > 0 && (this.#active.get(endpointId) ?? 0) < this.#o.perEndpointConcurrency) {
      if (this.#sending >= this.#o.maxInFlight) {
        this.#starved.add(endpointId);
        break;
      }
      const job = queue.shift() as Job;
      this.#queued--;
      // Queued so long that the lease could run out before the attempt is sent and recorded
      // (another worker would then send it too): give it back instead.
      if (this.#o.clock.now() > job.leaseUntil - this.#o.leaseMs / 2) {
        stale.push(job.delivery.id);
        this.#holding.delete(job.delivery.id);
        continue;
      }
      if (rate !== null) {
        // Over the rate: give the delivery back, due when the next slot opens (no attempt counted).
        const now = this.#o.clock.now();
        slot = this.#nextSlot.get(endpointId) ?? now;
        if (slot > now) {
          overRate.push(job.delivery.id);
          this.#holding.delete(job.delivery.id);
          continue;
        }
        this.#nextSlot.set(endpointId, now + Math.ceil(1000 / rate));
      }
      this.#active.set(endpointId, (this.#active.get(endpointId) ?? 0) + 1);
      this.#sending++;
      const task = this.#attempt(job)
        .catch((err: unknown) => {
          // nothing of it was recorded: its lease runs out and it is sent again
          this.#holding.delete(job.delivery.id);
          this.#o.logger?.error({ err, delivery: job.delivery.id }, 'webhook attempt failed');
        })
        .finally(() => {
          this.#inFlight.delete(task);
          this.#sending--;
          this.#active.set(endpointId, (this.#active.get(endpointId) ?? 1) - 1);
          // the endpoints that waited for a free slot first, in the order they came, then this
          // one (at the back of that line if none is left): a few busy endpoints cannot keep
          // every slot to themselves
          for (const starved of this.#starved) {
            if (this.#sending >= this.#o.maxInFlight) break;
            this.#starved.delete(starved);
            this.#pump(starved);
          }
          this.#pump(endpointId);
          if (this.#claimNow()) this.#wakeLoop?.();
        });
      this.#inFlight.add(task);
    }
    if (queue.length === 0) this.#dropQueue(endpointId);
    if (queue.length < this.#full && this.#skipped.delete(endpointId)) {
      // left out of a claim that came back short: what is due for it is claimed now
      this.#claimAgain = true;
    }
    if (stale.length > 0) this.#track(this.#o.store.releaseWebhookLeases(this.owner, stale).then(() => {}));
    if (overRate.length > 0) {
      this.#track(this.#o.store.releaseWebhookLeases(this.owner, overRate, slot).then(() => {}));
      this.#claimAt(slot);
    }
  }

  /**
   * Claims again at `at` (when a rate-limited endpoint's next slot opens), whatever the last
   * claim found: its deliveries were given back due then, and would otherwise wait for a poll.
   */
  #claimAt(at: number): void {
    this.#slots.push(at);
    if (this.#claimTimer !== undefined && this.#claimTimerAt <= at) return;
    this.#armClaimTimer(at);
  }

  /** The timer for the earliest slot asked for; when it fires, the next one is armed. */
  #armClaimTimer(at: number): void {
    clearTimeout(this.#claimTimer);
    this.#claimTimerAt = at;
    // a timer can fire a little early by the clock (it counts from the event loop's cached
    // time): a claim then would find the slot not yet open, so it waits on
    const fire = () => {
      const now = this.#o.clock.now();
      if (at > now) {
        this.#claimTimer = setTimeout(fire, at - now);
        this.#claimTimer.unref?.();
        return;
      }
      this.#claimTimer = undefined;
      this.#slots = this.#slots.filter((slot) => slot > now);
      if (this.#slots.length > 0) this.#armClaimTimer(Math.min(...this.#slots));
      this.#claimAgain = true;
      if (this.#claimNow()) this.#wakeLoop?.();
    };
    this.#claimTimer = setTimeout(fire, Math.max(0, at - this.#o.clock.now()));
    this.#claimTimer.unref?.();
  }

  async #attempt(job: Job): Promise<void> {
    const endpoint = this.#endpoints.get(job.delivery.endpointId);
    if (!endpoint) {
      this.#holding.delete(job.delivery.id); // its keys could not be opened: the lease runs out
      return;
    }
    // the attempt starts before the wait for its endpoint's address (looked up once per claim,
    // bounded by the client's connect or total timeout, whichever is shorter): that wait is
    // part of its latency
    const startedAt = this.#o.clock.now();
    const waitFrom = performance.now();
    const target = await job.target;
    const lookupMs = performance.now() - waitFrom;
    let result: DeliveryResult;
    if ('errorCode' in target) {
      result = {
        statusCode: null,
        latencyMs: lookupMs,
        excerpt: null,
        errorCode: target.errorCode,
        retryAfterMs: undefined,
      };
    } else {
      let headers: WebhookHeaders;
      try {
        headers = this.#sign(endpoint, job, this.#o.clock.now());
      } catch (err) {
        // a key the store holds but core refuses: leave it to the lease
        this.#o.logger?.error({ err, delivery: job.delivery.id }, 'webhook attempt could not be signed');
        this.#holding.delete(job.delivery.id);
        return;
      }
      const sent = await this.#o.client.send({ target, headers, body: job.body, pool: endpoint.row.id });
      result = { ...sent, latencyMs: lookupMs + sent.latencyMs };
    }
    this.#complete(job.delivery, startedAt, result);
  }

  /** The current secret, then the rotated-out one while its grace period runs. */
  #sign(endpoint: CachedEndpoint, job: Job, at: number): WebhookHeaders {
    const { row } = endpoint;
    const keys = [endpoint.current];
    if (endpoint.previous !== undefined && (row.previousSecretExpiresAt ?? 0) > at)
      keys.push(endpoint.previous);
    return webhookHeaders({
      id: job.delivery.eventId,
      timestamp: Math.floor(at / 1000),
      body: job.body,
      ...(row.signing === 'v1' ? { secrets: keys as Uint8Array[] } : { privateKeys: keys as KeyObject[] }),
    });
  }

  /** The attempt's row and the delivery's next state (the retry schedule), queued to be written. */
  #complete(delivery: ClaimedWebhookDelivery, startedAt: number, result: DeliveryResult): void {
    const now = this.#o.clock.now();
    // a 2xx counts only when nothing went wrong after it (the body stalled past the timeout)
    const ok =
      result.statusCode !== null &&
      result.statusCode >= 200 &&
      result.statusCode < 300 &&
      result.errorCode === null;
    const number = delivery.attempts + 1;
    const attempt: WebhookAttemptRow = {
      deliveryId: delivery.id,
      attempt: number,
      endpointId: delivery.endpointId,
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
    this.#outcomes.push({
      input: {
        leaseOwner: this.owner,
        attempt,
        status: ok ? 'succeeded' : retryAt === null ? 'failed' : 'pending',
        nextAttemptAt: retryAt,
        completedAt: ok || retryAt === null ? now : null,
      },
      endpointId: delivery.endpointId,
      ok,
      statusCode: result.statusCode,
      startedAt,
    });
    if (this.#outcomes.length >= this.#o.flushRows) this.#kickFlush();
    else if (!this.#flushTimer && !this.#flushing)
      this.#flushTimer = setTimeout(() => this.#kickFlush(), this.#o.flushMs);
  }

  #kickFlush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#flushing || this.#outcomes.length === 0) return;
    this.#flushing = this.#flush(this.#outcomes.splice(0, this.#o.flushRows)).finally(() => {
      this.#flushing = undefined;
      // what came in meanwhile: at once when a batch is full, else after flushMs
      if (this.#outcomes.length >= this.#o.flushRows) this.#kickFlush();
      else if (this.#outcomes.length > 0)
        this.#flushTimer = setTimeout(() => this.#kickFlush(), this.#o.flushMs);
      if (this.#claimNow()) this.#wakeLoop?.();
    });
  }

  /** Writes every outcome not yet written. */
  async #drain(): Promise<void> {
    while (this.#flushing || this.#outcomes.length > 0) {
      if (!this.#flushing) this.#kickFlush();
      await this.#flushing;
    }
  }

  /**
   * Writes a batch of outcomes: those of endpoints whose every outcome in the batch succeeded
   * through the outbox (one transaction: the attempts, and the end of those endpoints' runs of
   * failures), the others in a store transaction that also keeps the failure bookkeeping.
   */
  async #flush(batch: Completion[]): Promise<void> {
    const failing = new Set<string>();
    for (const c of batch) if (!c.ok) failing.add(c.endpointId);
    const succeeded: CompleteAttemptInput[] = [];
    const rest: Completion[] = [];
    for (const c of batch) {
      if (failing.has(c.endpointId)) rest.push(c);
      else succeeded.push(c.input);
    }
    try {
      await Promise.all([
        succeeded.length > 0 &&
          this.#record(async () => ({
            recorded: (await this.#outbox().completeSucceeded(succeeded)).length,
            disabled: [],
          })),
        rest.length > 0 && this.#record(() => this.#o.store.transaction((tx) => this.#write(tx, rest))),
      ]);
    } finally {
      // written, or left to the leases after the last try
      for (const c of batch) this.#holding.delete(c.input.attempt.deliveryId);
    }
  }

  async #record(write: () => Promise<{ recorded: number; disabled: string[] }>): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        const { recorded, disabled } = await write();
        this.#sent += recorded;
        for (const endpointId of disabled) this.#forget(endpointId);
        if (disabled.length > 0) this.#o.outbox?.notify();
        return;
      } catch (err) {
        // Nothing of this part was written: try again, then leave it to the leases.
        this.#o.logger?.error({ err, tries }, 'webhook attempt outcomes failed to record');
        if (tries >= FLUSH_TRIES) return;
        await sleep(50 * 2 ** tries);
      }
    }
  }

  /** One transaction: the attempts and deliveries, then each endpoint's run of failures. */
  async #write(tx: StoreOps, batch: Completion[]): Promise<{ recorded: number; disabled: string[] }> {
    const recorded = new Set(await tx.completeWebhookAttempts(batch.map((c) => c.input)));
    const byEndpoint = new Map<string, Completion[]>();
    for (const c of batch) {
      if (!recorded.has(c.input.attempt.deliveryId)) continue;
      const list = byEndpoint.get(c.endpointId);
      if (list) list.push(c);
      else byEndpoint.set(c.endpointId, [c]);
    }
    const succeeding: string[] = [];
    const disabled: string[] = [];
    const now = this.#o.clock.now();
    for (const [endpointId, outcomes] of byEndpoint) {
      if (outcomes.every((c) => c.ok)) {
        succeeding.push(endpointId);
        continue;
      }
      // Replays the outcomes in the order they came: a success ends a run of failures.
      const current = await tx.getWebhookEndpoint(endpointId);
      if (!current) continue;
      let failingSince = current.failingSince;
      let reason: 'gone' | 'failing' | null = null;
      for (const c of outcomes) {
        if (c.ok) {
          failingSince = null;
          continue;
        }
        failingSince ??= c.startedAt;
        reason = webhookDisableReason({ failingSince, now, lastStatus: c.statusCode });
        if (reason !== null) break;
      }
      if (failingSince !== current.failingSince) await tx.updateWebhookEndpoint(endpointId, { failingSince });
      if (reason !== null && current.status === 'enabled') {
        await disableEndpoint(tx, { ...current, failingSince }, reason, now);
        disabled.push(endpointId);
      }
    }
    if (succeeding.length > 0) await tx.clearWebhookEndpointsFailing(succeeding);
    return { recorded: recorded.size, disabled };
  }

  /** A disabled endpoint: its pending deliveries are abandoned, so its queued ones go too. */
  #forget(endpointId: string): void {
    this.#o.logger?.warn({ endpoint: endpointId }, 'webhook endpoint disabled');
    this.#dropQueue(endpointId);
    this.#endpoints.delete(endpointId);
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

/** The same signing keys (ciphertexts and scheme): the ones opened for `b` still sign for `a`. */
function sameKeys(a: WebhookEndpointRow, b: WebhookEndpointRow): boolean {
  return a.secret === b.secret && a.previousSecret === b.previousSecret && a.signing === b.signing;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
