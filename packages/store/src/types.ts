import type { AnyKeyType, KeyMode } from '@gatehouse/contract';

/** Rows as the store keeps them. Times are Unix milliseconds; JSON columns are parsed. */
export interface AccountRow {
  id: string;
  name: string;
  maxKeyAgeDays: number;
  rateLimits: { limit: number; window_seconds: number }[] | null;
  metadata: Record<string, string>;
  createdAt: number;
}

export interface KeyRow {
  id: string;
  /** null for operator (admin) keys */
  accountId: string | null;
  type: AnyKeyType;
  /** null for operator (admin) keys */
  mode: KeyMode | null;
  name: string | null;
  /** HMAC-SHA256(pepper, secret), base64url; unique */
  keyHash: string;
  pepperVersion: number;
  hint: string;
  scopes: string[];
  ipAllowlist: string[];
  rateLimits: { limit: number; window_seconds: number }[] | null;
  metadata: Record<string, string>;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokedReason: string | null;
  /** set on the old key when it is rolled: the id of its replacement */
  rolledTo: string | null;
}

export type KeyPatch = Partial<
  Pick<
    KeyRow,
    | 'name'
    | 'scopes'
    | 'ipAllowlist'
    | 'rateLimits'
    | 'metadata'
    | 'expiresAt'
    | 'revokedAt'
    | 'revokedReason'
    | 'rolledTo'
    | 'keyHash'
    | 'pepperVersion'
  >
>;

export type AuditActorType = 'admin_key' | 'api_key' | 'cli' | 'system';

/** What a caller gives to append an audit event; the store assigns seq, prev_hash and hash. */
export interface AuditInput {
  id: string;
  createdAt: number;
  accountId: string | null;
  actorType: AuditActorType;
  actorId: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  data: Record<string, unknown>;
  ip: string | null;
  requestId: string | null;
}

export interface AuditRow extends AuditInput {
  seq: number;
  prevHash: string;
  hash: string;
}

/** Cursor pagination, newest first (ids are ULIDs, so they sort by creation time). */
export interface PageQuery {
  limit: number;
  startingAfter?: string | undefined;
  endingBefore?: string | undefined;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

export interface KeyFilter {
  accountId?: string | undefined;
  mode?: KeyMode | undefined;
  /** include operator keys (default false) */
  type?: AnyKeyType | undefined;
}

/** One line of the request log. Times are Unix ms; the id is the request id (`req_…`). */
export interface RequestLogRow {
  id: string;
  createdAt: number;
  accountId: string | null;
  keyId: string | null;
  mode: KeyMode | null;
  method: string;
  /** the path without its query string, or the matched route pattern */
  route: string;
  status: number;
  latencyMs: number;
  clientIp: string | null;
  userAgent: string | null;
  errorCode: string | null;
}

/** Request-log filters; `since` is inclusive and `until` exclusive (Unix ms). */
export interface RequestLogFilter {
  accountId?: string | undefined;
  keyId?: string | undefined;
  mode?: KeyMode | undefined;
  status?: number | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

export interface AuditFilter {
  accountId?: string | undefined;
  action?: string | undefined;
}

export type WebhookSigning = 'v1' | 'v1a';
export type WebhookEndpointStatus = 'enabled' | 'disabled';

/** A webhook endpoint. `secret` and `previousSecret` are ciphertexts; the store never sees a plain secret. */
export interface WebhookEndpointRow {
  id: string;
  accountId: string;
  mode: KeyMode;
  url: string;
  description: string | null;
  enabledEvents: string[];
  signing: WebhookSigning;
  status: WebhookEndpointStatus;
  disabledReason: string | null;
  secret: string;
  /** v1a: the Ed25519 public key the receiver verifies with */
  publicKey: string | null;
  previousSecret: string | null;
  previousSecretExpiresAt: number | null;
  rateLimitPerSecond: number | null;
  metadata: Record<string, string>;
  /** when the current run of failed attempts began; null while deliveries succeed */
  failingSince: number | null;
  createdAt: number;
  updatedAt: number;
}

export type WebhookEndpointPatch = Partial<
  Pick<
    WebhookEndpointRow,
    | 'url'
    | 'description'
    | 'enabledEvents'
    | 'status'
    | 'disabledReason'
    | 'secret'
    | 'publicKey'
    | 'previousSecret'
    | 'previousSecretExpiresAt'
    | 'rateLimitPerSecond'
    | 'metadata'
    | 'failingSince'
    | 'updatedAt'
  >
>;

export interface WebhookEndpointFilter {
  accountId?: string | undefined;
  mode?: KeyMode | undefined;
  status?: WebhookEndpointStatus | undefined;
}

export interface EventRow {
  id: string;
  accountId: string;
  mode: KeyMode;
  type: string;
  data: Record<string, unknown>;
  requestId: string | null;
  createdAt: number;
}

export interface EventFilter {
  accountId?: string | undefined;
  mode?: KeyMode | undefined;
  type?: string | undefined;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'abandoned';

/** One row of the outbox: an event on its way to one endpoint. */
export interface WebhookDeliveryRow {
  id: string;
  eventId: string;
  endpointId: string;
  status: WebhookDeliveryStatus;
  /** attempts made so far */
  attempts: number;
  /** when the next attempt is due; null once the delivery is finished */
  nextAttemptAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  lastAttemptAt: number | null;
  lastStatusCode: number | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  lastExcerpt: string | null;
  createdAt: number;
  completedAt: number | null;
}

export interface WebhookDeliveryFilter {
  endpointId?: string | undefined;
  eventId?: string | undefined;
  status?: WebhookDeliveryStatus | undefined;
}

/** One HTTP attempt of a delivery. The excerpt is redacted and at most 1 KiB. */
export interface WebhookAttemptRow {
  deliveryId: string;
  /** 1 for the first attempt */
  attempt: number;
  endpointId: string;
  startedAt: number;
  statusCode: number | null;
  latencyMs: number;
  responseExcerpt: string | null;
  errorCode: string | null;
  succeeded: boolean;
}

/** A delivery leased by claimWebhookAttempts: what its next attempt needs. */
export interface ClaimedWebhookDelivery {
  id: string;
  eventId: string;
  endpointId: string;
  /** attempts made so far */
  attempts: number;
  nextAttemptAt: number;
}

/**
 * A claim: the deliveries leased (oldest due first), with their events and their endpoints as
 * they were in the claim's transaction.
 */
export interface ClaimedWebhookAttempts {
  deliveries: ClaimedWebhookDelivery[];
  events: EventRow[];
  endpoints: WebhookEndpointRow[];
}

/** What the dispatcher records after an attempt: the attempt row and the delivery's new state. */
export interface CompleteAttemptInput {
  leaseOwner: string;
  attempt: WebhookAttemptRow;
  status: WebhookDeliveryStatus;
  nextAttemptAt: number | null;
  completedAt: number | null;
}

/** Which finished deliveries to send again. `since` (Unix ms, inclusive) is on the delivery's creation. */
export interface RequeueFilter {
  endpointId?: string | undefined;
  eventId?: string | undefined;
  statuses: readonly WebhookDeliveryStatus[];
  /** Only deliveries of events created at or after this time (Unix ms). */
  since?: number | undefined;
}

/** Everything that can run inside a transaction. */
export interface StoreOps {
  insertAccount(row: AccountRow): Promise<void>;
  getAccount(id: string): Promise<AccountRow | undefined>;
  listAccounts(page: PageQuery): Promise<Page<AccountRow>>;

  insertKey(row: KeyRow): Promise<void>;
  getKey(id: string): Promise<KeyRow | undefined>;
  /** Lookup by `keyHash`; the caller tries each pepper version's hash. */
  findKeyByHash(keyHash: string): Promise<KeyRow | undefined>;
  listKeys(filter: KeyFilter, page: PageQuery): Promise<Page<KeyRow>>;
  /** Applies the patch and returns the updated row, or undefined when no such key. */
  updateKey(id: string, patch: KeyPatch): Promise<KeyRow | undefined>;
  /** Batched `last_used_at` write: only moves the time forward. */
  touchKeys(entries: { id: string; at: number }[]): Promise<void>;

  /**
   * Appends to the hash chain: seq = previous seq + 1, prev_hash = previous hash,
   * hash = SHA-256(prev_hash ‖ canonical event). Serialised across connections.
   */
  appendAudit(event: AuditInput): Promise<AuditRow>;
  listAudit(filter: AuditFilter, page: PageQuery): Promise<Page<AuditRow>>;
  getAudit(id: string): Promise<AuditRow | undefined>;
  /** Every audit row in seq order, in batches (for verify and export). */
  iterateAudit(batchSize?: number): AsyncIterable<AuditRow>;
  /** The chain head (last seq and hash), or seq 0 and the genesis hash when empty. */
  auditHead(): Promise<{ seq: number; hash: string }>;

  /**
   * Writes request-log lines with multi-row inserts (chunked). A line whose id is already
   * stored is skipped, so a batch retried after an unclear failure is not written twice.
   */
  insertRequestLogs(rows: readonly RequestLogRow[]): Promise<void>;
  /** Newest first (by time, then id); cursors are request ids. */
  listRequestLogs(filter: RequestLogFilter, page: PageQuery): Promise<Page<RequestLogRow>>;
  /** Deletes up to `limit` of the oldest lines created before `before` (Unix ms); returns how many. */
  deleteRequestLogsBefore(before: number, limit: number): Promise<number>;

  insertWebhookEndpoint(row: WebhookEndpointRow): Promise<void>;
  getWebhookEndpoint(id: string): Promise<WebhookEndpointRow | undefined>;
  /** The endpoints with these ids, in no particular order; unknown ids are left out. */
  getWebhookEndpoints(ids: readonly string[]): Promise<WebhookEndpointRow[]>;
  /** Sets `failingSince` to null on those of these endpoints where it is set (a delivery succeeded). */
  clearWebhookEndpointsFailing(ids: readonly string[]): Promise<void>;
  listWebhookEndpoints(filter: WebhookEndpointFilter, page: PageQuery): Promise<Page<WebhookEndpointRow>>;
  /** Every enabled endpoint of one account and mode (the candidates for a new event). */
  enabledWebhookEndpoints(accountId: string, mode: KeyMode): Promise<WebhookEndpointRow[]>;
  updateWebhookEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointRow | undefined>;
  /** Deletes the endpoint with its deliveries and attempts; false when there was none. */
  deleteWebhookEndpoint(id: string): Promise<boolean>;

  insertEvent(row: EventRow): Promise<void>;
  getEvent(id: string): Promise<EventRow | undefined>;
  /**
   * getEvent, and inside a transaction the event's row stays locked until it ends (PostgreSQL;
   * SQLite's transactions already exclude each other): work on the event's deliveries that
   * reads before it writes, such as a redelivery, then runs one transaction at a time.
   */
  getEventForUpdate(id: string): Promise<EventRow | undefined>;
  /** The events with these ids, in no particular order; unknown ids are left out. */
  getEvents(ids: readonly string[]): Promise<EventRow[]>;
  listEvents(filter: EventFilter, page: PageQuery): Promise<Page<EventRow>>;

  /** Outbox rows; write them in the transaction that writes their event. */
  insertWebhookDeliveries(rows: readonly WebhookDeliveryRow[]): Promise<void>;
  getWebhookDelivery(id: string): Promise<WebhookDeliveryRow | undefined>;
  listWebhookDeliveries(filter: WebhookDeliveryFilter, page: PageQuery): Promise<Page<WebhookDeliveryRow>>;
  /** The attempts of these deliveries, oldest first. */
  listWebhookAttempts(deliveryIds: readonly string[]): Promise<WebhookAttemptRow[]>;
  /**
   * Leases up to `limit` pending deliveries due at `now` whose lease is free or expired, to
   * `owner` until `now + leaseMs`. Two concurrent claimers never receive the same delivery.
   */
  claimDueWebhookDeliveries(
    owner: string,
    now: number,
    limit: number,
    leaseMs: number,
  ): Promise<WebhookDeliveryRow[]>;
  /**
   * claimDueWebhookDeliveries for the dispatcher's hot path: the same leases, returning only
   * what an attempt needs (due order), with the events they carry and their endpoints, all
   * read in one transaction (one statement on PostgreSQL).
   */
  claimWebhookAttempts(
    owner: string,
    now: number,
    limit: number,
    leaseMs: number,
    /** endpoints whose deliveries are left for later (the claimer has enough of them queued) */
    skipEndpoints?: readonly string[],
  ): Promise<ClaimedWebhookAttempts>;
  /**
   * Records an attempt and moves the delivery to its next state, if `leaseOwner` still holds
   * the lease. Returns false (and records nothing) when the lease was lost meanwhile.
   */
  completeWebhookAttempt(input: CompleteAttemptInput): Promise<boolean>;
  /**
   * completeWebhookAttempt for many deliveries at once, in one transaction: returns the ids of
   * the deliveries recorded; the others had lost their lease or were finished, and nothing of
   * theirs is written. One input per delivery.
   */
  completeWebhookAttempts(inputs: readonly CompleteAttemptInput[]): Promise<string[]>;
  /** Gives up `owner`'s leases on these deliveries; `nextAttemptAt` moves them when given. */
  releaseWebhookLeases(owner: string, ids: readonly string[], nextAttemptAt?: number): Promise<number>;
  /**
   * Finished deliveries matching the filter become pending again, due at `now`; with `pending`
   * among the statuses, pending ones waiting for a retry are due at `now` too, their attempts
   * kept (one under a live lease, being attempted, is left to finish). Returns how many, at
   * most `limit`. Deliveries to a disabled endpoint are left as they are.
   */
  requeueWebhookDeliveries(filter: RequeueFilter, now: number, limit: number): Promise<number>;
  /** Pending deliveries of an endpoint become `abandoned` (it was disabled); returns how many. */
  abandonWebhookDeliveries(endpointId: string, now: number): Promise<number>;

  /**
   * Account keys, not revoked, expiring in (`now`, `now + withinMs`] that have no notice for
   * `threshold` at their current expiry time; soonest first.
   */
  keysDueExpiryNotice(threshold: string, now: number, withinMs: number, limit: number): Promise<KeyRow[]>;
  /** Records a notice; false when it was already recorded (another instance sent it). */
  recordKeyExpiryNotice(notice: {
    keyId: string;
    threshold: string;
    expiresAt: number;
    createdAt: number;
  }): Promise<boolean>;
}

export interface Store extends StoreOps {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs fn in one database transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  migrate(): Promise<void>;
  ping(): Promise<void>;
  /** Where the request log's batches are written (the caller closes it after its last write). */
  openRequestLogWriter(): RequestLogBatchWriter;
  /** The webhook dispatcher's claims and records of successes (the caller closes it when done). */
  openWebhookOutbox(): WebhookOutbox;
  close(): Promise<void>;
}

/**
 * The webhook dispatcher's hot path through the outbox: on a SQLite file a worker thread with
 * its own connection runs these statements; elsewhere they are the store's own methods.
 */
export interface WebhookOutbox {
  /** As StoreOps.claimWebhookAttempts. */
  claim: StoreOps['claimWebhookAttempts'];
  /**
   * Records successful attempts in one transaction, as StoreOps.completeWebhookAttempts (the
   * ids recorded are returned; a lost lease records nothing), and in the same transaction
   * ends the run of failures of every endpoint that had an attempt recorded. Only for
   * attempts that succeeded, and only when all of their endpoint's outcomes in the batch did:
   * a failure's bookkeeping (failing since, disabling) needs the full store.
   */
  completeSucceeded(inputs: readonly CompleteAttemptInput[]): Promise<string[]>;
  close(): Promise<void>;
}

/** Writes batches of request-log lines; `close()` after the last write. */
export interface RequestLogBatchWriter {
  write(rows: readonly RequestLogRow[]): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** `postgres://…` for PostgreSQL; otherwise a SQLite file path or `:memory:`. */
  url: string;
  /** PostgreSQL only: the schema to use (created when missing). Default `public`. */
  schema?: string;
}
