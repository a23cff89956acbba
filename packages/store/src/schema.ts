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
