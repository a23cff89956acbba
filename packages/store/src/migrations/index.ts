import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001-initial.js';
import { requestLogs } from './0002-request-logs.js';
import { webhooks } from './0003-webhooks.js';
import { keyExpiryNotices } from './0004-key-expiry-notices.js';
import { webhookOutboxAttempt } from './0005-webhook-outbox-attempt.js';
import { webhookDeliveriesFillfactor } from './0006-webhook-deliveries-fillfactor.js';

/** Every migration, in order. Names sort in the order they run; never rename or edit one. */
const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_request_logs': requestLogs,
  '0003_webhooks': webhooks,
  '0004_key_expiry_notices': keyExpiryNotices,
  '0005_webhook_outbox_attempt': webhookOutboxAttempt,
  '0006_webhook_deliveries_fillfactor': webhookDeliveriesFillfactor,
};

/** In-code provider: the compiled package carries its migrations, no files are read at run time. */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
