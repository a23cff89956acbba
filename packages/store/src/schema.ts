/**
 * The database as Kysely sees it: one schema for SQLite and PostgreSQL. Columns are
 * snake_case; times are BIGINT Unix milliseconds; JSON columns are TEXT (canonical JSON).
 */
export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  request_logs: RequestLogsTable;
  webhook_endpoints: WebhookEndpointsTable;
  events: EventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  key_expiry_notices: KeyExpiryNoticesTable;
}

export interface AccountsTable {
  id: string;
  name: string;
  max_key_age_days: number;
  /** JSON array or null */
  rate_limits: string | null;
  /** JSON object */
  metadata: string;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  account_id: string | null;
  type: string;
  mode: string | null;
  name: string | null;
  key_hash: string;
  pepper_version: number;
  hint: string;
  /** JSON array */
  scopes: string;
  /** JSON array */
  ip_allowlist: string;
  /** JSON array or null */
  rate_limits: string | null;
  /** JSON object */
  metadata: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
  rolled_to: string | null;
}

export interface AuditEventsTable {
  id: string;
  seq: number;
  created_at: number;
  account_id: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  /** canonical JSON object: stored exactly as hashed */
  data: string;
  ip: string | null;
  request_id: string | null;
  prev_hash: string;
  hash: string;
}

/** A single row (id = 1): the last seq and hash of the audit chain. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** One line per request: no bodies, no secrets, no query strings. */
export interface RequestLogsTable {
  /** the request id (req_…) */
  id: string;
  created_at: number;
  account_id: string | null;
  key_id: string | null;
  mode: string | null;
  method: string;
  route: string;
  status: number;
  /** double precision */
  latency_ms: number;
  client_ip: string | null;
  user_agent: string | null;
  error_code: string | null;
}

export interface WebhookEndpointsTable {
  id: string;
  account_id: string;
  mode: string;
  url: string;
  description: string | null;
  /** JSON array of event types and wildcards */
  enabled_events: string;
  signing: string;
  status: string;
  disabled_reason: string | null;
  /** ciphertext (AES-256-GCM under the keyring's data key): never the plain secret */
  secret: string;
  public_key: string | null;
  /** ciphertext of the secret replaced by the last rotation, signing until it expires */
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  rate_limit_per_second: number | null;
  /** JSON object */
  metadata: string;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

export interface EventsTable {
  id: string;
  account_id: string;
  mode: string;
  type: string;
  /** canonical JSON object */
  data: string;
  request_id: string | null;
  created_at: number;
}

/** The outbox: one row per (event, endpoint), claimed by dispatchers with a lease. */
export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  endpoint_id: string;
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  last_excerpt: string | null;
  /** 1 or 0 once the latest attempt is recorded on the row itself (migration 0005); null before */
  last_succeeded: number | null;
  created_at: number;
  completed_at: number | null;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  endpoint_id: string;
  started_at: number;
  status_code: number | null;
  latency_ms: number;
  response_excerpt: string | null;
  error_code: string | null;
  /** 0 or 1 */
  succeeded: number;
}

export interface KeyExpiryNoticesTable {
  key_id: string;
  /** `7d` or `1d` */
  threshold: string;
  expires_at: number;
  created_at: number;
}
