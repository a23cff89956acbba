export { createApp, presentedKey } from './app.js';
export { type Config, ConfigError, loadConfig } from './config.js';
export * from './gateway/index.js';
export { loadKeyring } from './keyring-loader.js';
export { createLogger } from './logger.js';
export { type RunningServer, startServer } from './main.js';
export { createRuntime, openRuntime, type Runtime, type RuntimeParts } from './runtime.js';
export { toAccount } from './services/account-service.js';
export { toAuditEvent } from './services/audit-service.js';
export { eventPayload, toEvent } from './services/event-service.js';
export type { Caller, Principal } from './services/principal.js';
export type { RequestLogEntry, RequestLogSink } from './services/request-log.js';
export { BatchingRequestLogWriter, type RequestLogWriterOptions } from './services/request-log-writer.js';
export { toWebhookDelivery, toWebhookEndpoint } from './services/webhook-service.js';
export {
  DeliveryClient,
  type DeliveryClientOptions,
  type DeliveryResult,
} from './webhooks/delivery-client.js';
export { WebhookDispatcher, type WebhookDispatcherOptions } from './webhooks/webhook-dispatcher.js';
export type { WebhookTarget, WebhookUrlGuard } from './webhooks/webhook-url-guard.js';
