import { join } from 'node:path';
import { type Clock, KeyHasher, type Keyring, type RandomBytes, systemClock } from '@gatehouse/core';
import { createKv, type Kv } from '@gatehouse/kv';
import { createStore, openPostgresNotifier, type PostgresNotifier, type Store } from '@gatehouse/store';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { loadKeyring } from './keyring-loader.js';
import { AccountService } from './services/account-service.js';
import { AuditService } from './services/audit-service.js';
import { EventService } from './services/event-service.js';
import { FailedAuthRecorder } from './services/failed-auth-recorder.js';
import { type InvalidationBus, KeyAuthenticator } from './services/key-authenticator.js';
import { KeyExpiryNotifier } from './services/key-expiry-notifier.js';
import { KeyService } from './services/key-service.js';
import { LastUsedTracker } from './services/last-used-tracker.js';
import type { RequestLogSink } from './services/request-log.js';
import { BatchingRequestLogWriter } from './services/request-log-writer.js';
import { WebhookService } from './services/webhook-service.js';
import { DeliveryClient, type DeliveryClientOptions } from './webhooks/delivery-client.js';
import { OutboxSignal } from './webhooks/outbox-signal.js';
import { createWebhookUrlGuard } from './webhooks/ssrf-webhook-url-guard.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './webhooks/webhook-dispatcher.js';
import { WebhookSecretBox } from './webhooks/webhook-secret-box.js';
import type { WebhookUrlGuard } from './webhooks/webhook-url-guard.js';

/** Everything the HTTP app and the CLI act through. Built once from the config. */
export interface Runtime {
  store: Store;
  kv: Kv;
  keyring: Keyring;
  clock: Clock;
  authenticator: KeyAuthenticator;
  lastUsed: LastUsedTracker;
  failedAuth: FailedAuthRecorder;
  accounts: AccountService;
  keys: KeyService;
  audit: AuditService;
  /** the request log writer (batched); the gateway and the API record every request here */
  requestLog: RequestLogSink;
  /** the same writer, for flushing, retention and its counters */
  requestLogWriter: BatchingRequestLogWriter;
  events: EventService;
  webhooks: WebhookService;
  /** wakes this process's webhook dispatcher when deliveries are written */
  outbox: OutboxSignal;
  webhookSecretBox: WebhookSecretBox;
  webhookUrlGuard: WebhookUrlGuard;
  /**
   * Starts delivering webhooks from this process (the server does; the CLI does not). Stopped
   * by close(), which finishes or releases the attempts it claimed.
   */
  startWebhookDispatcher(options?: WebhookDispatcherStartOptions): WebhookDispatcher;
  close(): Promise<void>;
}

export type WebhookDispatcherStartOptions = Partial<
  Omit<WebhookDispatcherOptions, 'store' | 'clock' | 'secretBox' | 'urlGuard' | 'client' | 'outbox'>
> & { client?: DeliveryClientOptions };

export interface RuntimeParts {
  store: Store;
  kv: Kv;
  keyring: Keyring;
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  keyCacheTtlMs?: number;
  /** how key invalidations reach other instances when the kv cannot (PostgreSQL LISTEN/NOTIFY without Redis) */
  invalidationBus?: InvalidationBus;
  /** request-log lines older than this are deleted (default 30) */
  requestLogRetentionDays?: number;
  /** hosts and CIDRs webhooks may reach although private or loopback (test receivers) */
  webhookAllowedPrivateHosts?: readonly string[];
  /** replaces the SSRF guard built from the allowed hosts (tests) */
  webhookUrlGuard?: WebhookUrlGuard;
}

/** Pure wiring of the services over given parts; tests call this with in-memory twins. */
export async function createRuntime(parts: RuntimeParts): Promise<Runtime> {
  const clock = parts.clock ?? systemClock;
  const { store, kv, keyring } = parts;
  const onError = (what: string) => (err: unknown) => parts.logger?.error({ err }, what);
  const hasher = new KeyHasher(keyring);
  const lastUsed = new LastUsedTracker(store, 10_000, onError('last_used_at flush failed'));
  const failedAuth = new FailedAuthRecorder(store, clock, 60_000, onError('failed-auth summary failed'));
  // Without a channel between instances (one instance, or the CLI beside a server on SQLite), a
  // change made by another process reaches this one only through the store, so cache for one
  // second at most. With Redis or PostgreSQL LISTEN/NOTIFY every change is announced; while the
  // listening connection is down the authenticator falls back to one second by itself.
  const shared = kv.kind === 'redis' || parts.invalidationBus !== undefined;
  const cacheTtlMs = parts.keyCacheTtlMs ?? (shared ? 30_000 : 1_000);
  const authenticator = new KeyAuthenticator({
    store,
    kv,
    ...(parts.invalidationBus ? { bus: parts.invalidationBus, cacheTtlWhileDownMs: 1_000 } : {}),
    hasher,
    clock,
    cacheTtlMs,
    onFailure: (f) => failedAuth.record(f),
    onSuccess: (row) => lastUsed.record(row.id, clock.now()),
    onError: (err, what) => parts.logger?.error({ err }, what),
  });
  await authenticator.start();
  lastUsed.start();
  failedAuth.start();
  const requestLog = new BatchingRequestLogWriter({
    store,
    batchWriter: store.openRequestLogWriter(),
    clock,
    ...(parts.requestLogRetentionDays !== undefined ? { retentionDays: parts.requestLogRetentionDays } : {}),
    ...(parts.logger ? { logger: parts.logger } : {}),
  });
  requestLog.start();
  const random = parts.random;
  const outbox = new OutboxSignal();
  const webhookSecretBox = new WebhookSecretBox(keyring);
  const webhookUrlGuard =
    parts.webhookUrlGuard ??
    createWebhookUrlGuard({ allowedPrivate: parts.webhookAllowedPrivateHosts ?? [] });
  let dispatcher:
    | { worker: WebhookDispatcher; client: DeliveryClient; notifier: KeyExpiryNotifier }
    | undefined;
  return {
    store,
    kv,
    keyring,
    clock,
    authenticator,
    lastUsed,
    failedAuth,
    accounts: new AccountService({ store, clock }),
    keys: new KeyService({ store, hasher, clock, authenticator, outbox, ...(random ? { random } : {}) }),
    audit: new AuditService({ store }),
    requestLog,
    requestLogWriter: requestLog,
    events: new EventService({ store, clock, outbox }),
    webhooks: new WebhookService({
      store,
      clock,
      secretBox: webhookSecretBox,
      urlGuard: webhookUrlGuard,
      outbox,
      ...(random ? { random } : {}),
    }),
    outbox,
    webhookSecretBox,
    webhookUrlGuard,
    startWebhookDispatcher(options = {}) {
      if (dispatcher) return dispatcher.worker;
      const { client: clientOptions, ...rest } = options;
      const client = new DeliveryClient(clientOptions);
      const worker = new WebhookDispatcher({
        store,
        clock,
        secretBox: webhookSecretBox,
        urlGuard: webhookUrlGuard,
        client,
        outbox,
        ...(parts.logger ? { logger: parts.logger } : {}),
        ...rest,
      });
      worker.start();
      // key.expiring notices are events for the dispatcher to deliver: run them beside it
      const notifier = new KeyExpiryNotifier({
        store,
        clock,
        outbox,
        ...(parts.logger ? { logger: parts.logger } : {}),
      });
      notifier.start();
      dispatcher = { worker, client, notifier };
      return worker;
    },
    async close() {
      if (dispatcher) {
        await dispatcher.notifier.stop();
        await dispatcher.worker.close();
        await dispatcher.client.close();
      }
      await authenticator.stop();
      await lastUsed.stop();
      await failedAuth.stop();
      await requestLog.stop();
    },
  };
}

/** Opens the configured store (migrated), kv and keyring and wires the services over them. */
export async function openRuntime(config: Config, logger?: Logger): Promise<Runtime> {
  const { keyring, source } = loadKeyring(config);
  if (source === 'generated')
    logger?.warn('generated a new keyring in the data dir; back it up, or set GATEHOUSE_KEYRING');
  const store = await createStore(
    config.databaseUrl !== undefined
      ? { url: config.databaseUrl, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) }
      : { url: join(config.dataDir, 'gatehouse.db') },
  );
  let notifier: PostgresNotifier | undefined;
  try {
    await store.migrate();
    const kv = await createKv({
      url: config.redisUrl,
      prefix: config.redisPrefix,
      onError: (err) => logger?.warn({ err }, 'shared state (kv) error'),
    });
    // No Redis on PostgreSQL: key invalidations go over LISTEN/NOTIFY instead of the kv
    if (store.dialect === 'postgres' && kv.kind === 'memory' && config.databaseUrl !== undefined) {
      notifier = await openPostgresNotifier({
        url: config.databaseUrl,
        ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
        onError: (err) => logger?.warn({ err }, 'key invalidation listener (PostgreSQL) error'),
      });
    }
    const runtime = await createRuntime({
      store,
      kv,
      keyring,
      ...(notifier ? { invalidationBus: notifier } : {}),
      ...(logger ? { logger } : {}),
      ...(config.keyCacheTtlMs !== undefined ? { keyCacheTtlMs: config.keyCacheTtlMs } : {}),
      requestLogRetentionDays: config.requestLogRetentionDays,
      webhookAllowedPrivateHosts: config.webhookAllowedPrivateHosts,
    });
    const closeServices = runtime.close;
    runtime.close = async () => {
      await closeServices();
      await notifier?.close();
      await kv.close();
      await store.close();
    };
    return runtime;
  } catch (err) {
    await notifier?.close();
    await store.close();
    throw err;
  }
}
