import { z } from 'zod';
import { databaseText } from './database-text.js';
import { ERROR_TYPES } from './errors.js';
import { idPattern } from './ids.js';
import {
  KEY_MODES,
  KEY_STATUSES,
  KEY_TYPES,
  MAX_GRACE_PERIOD_SECONDS,
  REVOKE_REASONS,
  SCOPE_PATTERN,
} from './keys.js';

// Request schemas are strict: an unknown field is refused with `parameter_unknown`.
// Response schemas describe what the server sends; they also generate the OpenAPI document.

const unixSeconds = z.number().int().nonnegative().describe('Unix time in seconds');
const name = databaseText().trim().min(1).max(200);
export const Metadata = z
  .record(databaseText().min(1).max(40), databaseText().max(500))
  .refine((m) => Object.keys(m).length <= 50, { message: 'at most 50 metadata keys' })
  .describe('Up to 50 string pairs for your own use. Never put secrets here.');
export const Scope = z.string().regex(SCOPE_PATTERN, 'scope must be `<resource>:<read|write>` or `*`');
export const Cidr = z
  .string()
  .min(2)
  .max(64)
  .describe('An IPv4 or IPv6 address or CIDR range, e.g. `203.0.113.0/24` or `2001:db8::/32`');
export const RateLimitWindow = z.strictObject({
  limit: z.number().int().min(1).max(1_000_000_000),
  window_seconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600),
});
/** Up to five windows, each of its own length (two limits over one window would contradict each other). */
export const RateLimits = z
  .array(RateLimitWindow)
  .max(5)
  .refine((windows) => new Set(windows.map((w) => w.window_seconds)).size === windows.length, {
    message: 'each window_seconds may appear only once',
  });

export const AccountId = z.string().regex(idPattern('acct'), 'must be an account id (acct_…)');
export const KeyId = z.string().regex(idPattern('key'), 'must be a key id (key_…)');

export const Account = z
  .object({
    id: AccountId,
    object: z.literal('account'),
    name: z.string(),
    max_key_age_days: z.number().int(),
    rate_limits: RateLimits.nullable(),
    metadata: Metadata,
    created: unixSeconds,
  })
  .meta({ id: 'Account' });
export type Account = z.infer<typeof Account>;

export const ApiKey = z
  .object({
    id: KeyId,
    object: z.literal('api_key'),
    account: AccountId,
    type: z.enum(KEY_TYPES),
    mode: z.enum(KEY_MODES),
    name: z.string().nullable(),
    hint: z.string().describe('A display hint such as `sk_live_…wxyz`; never the secret'),
    scopes: z.array(z.string()),
    ip_allowlist: z.array(z.string()),
    rate_limits: RateLimits.nullable(),
    metadata: Metadata,
    status: z.enum(KEY_STATUSES),
    created: unixSeconds,
    expires_at: unixSeconds.nullable(),
    last_used_at: unixSeconds.nullable(),
    revoked_at: unixSeconds.nullable(),
    revoked_reason: z.string().nullable(),
    rolled_to: KeyId.nullable(),
    rotation_due: z.boolean().describe('True when the key is older than the account’s maximum key age'),
    secret: z.string().optional().describe('The full key. Present only in the response that creates it.'),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof ApiKey>;

export const CreateAccountRequest = z.strictObject({
  name,
  max_key_age_days: z.number().int().min(1).max(3650).optional(),
  rate_limits: RateLimits.optional(),
  metadata: Metadata.optional(),
});
export type CreateAccountRequest = z.infer<typeof CreateAccountRequest>;

export const CreateKeyRequest = z.strictObject({
  account: AccountId.optional().describe('Operator keys only: the account the key belongs to'),
  mode: z
    .enum(KEY_MODES)
    .optional()
    .describe('Defaults to the calling key’s mode; operator keys must set it'),
  type: z.enum(KEY_TYPES).default('secret'),
  name: name.optional(),
  scopes: z.array(Scope).max(100).optional(),
  ip_allowlist: z.array(Cidr).max(100).optional(),
  rate_limits: RateLimits.optional(),
  expires_at: unixSeconds.optional(),
  expires_in_seconds: z
    .number()
    .int()
    .min(60)
    .max(10 * 365 * 24 * 3600)
    .optional(),
  metadata: Metadata.optional(),
});
export type CreateKeyRequest = z.infer<typeof CreateKeyRequest>;

export const UpdateKeyRequest = z.strictObject({
  name: name.nullable().optional(),
  scopes: z.array(Scope).max(100).optional(),
  ip_allowlist: z.array(Cidr).max(100).optional(),
  rate_limits: RateLimits.nullable().optional(),
  expires_at: unixSeconds.nullable().optional(),
  metadata: Metadata.optional(),
});
export type UpdateKeyRequest = z.infer<typeof UpdateKeyRequest>;

export const RollKeyRequest = z.strictObject({
  grace_period_seconds: z.number().int().min(0).max(MAX_GRACE_PERIOD_SECONDS).optional(),
  name: name.optional(),
});
export type RollKeyRequest = z.infer<typeof RollKeyRequest>;

export const RevokeKeyRequest = z.strictObject({
  reason: z.enum(REVOKE_REASONS).optional(),
});
export type RevokeKeyRequest = z.infer<typeof RevokeKeyRequest>;

export const VerifyKeyRequest = z.strictObject({
  key: z.string().min(1).max(512),
});

export const KeyVerification = z
  .object({
    object: z.literal('key_verification'),
    valid: z.boolean(),
    reason: z
      .enum(['malformed', 'not_found', 'revoked', 'expired', 'ip_not_allowed'])
      .nullable()
      .describe('Why the key is not valid; null when it is'),
    key: ApiKey.nullable(),
  })
  .meta({ id: 'KeyVerification' });

export const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(10),
  starting_after: databaseText().max(64).optional(),
  ending_before: databaseText().max(64).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

export const KeyListQuery = ListQuery.extend({
  account: AccountId.optional(),
  mode: z.enum(KEY_MODES).optional(),
  status: z.enum(KEY_STATUSES).optional(),
});

export const AuditListQuery = ListQuery.extend({
  account: AccountId.optional(),
  action: databaseText().max(64).optional(),
});

const unixSecondsQuery = z.coerce.number().int().nonnegative().max(253_402_300_799);

export const RequestLogListQuery = ListQuery.extend({
  account: AccountId.optional().describe('Operator keys only: one account’s requests'),
  key: KeyId.optional(),
  mode: z.enum(KEY_MODES).optional(),
  status: z.coerce.number().int().min(100).max(599).optional(),
  since: unixSecondsQuery.optional().describe('Requests at or after this Unix time (seconds)'),
  until: unixSecondsQuery.optional().describe('Requests before this Unix time (seconds)'),
});

export function listOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({ object: z.literal('list'), data: z.array(item), has_more: z.boolean(), url: z.string() })
    .meta({ id });
}

export const AuditEvent = z
  .object({
    id: z.string(),
    object: z.literal('audit_event'),
    seq: z.number().int(),
    account: AccountId.nullable(),
    actor: z.object({ type: z.enum(['admin_key', 'api_key', 'cli', 'system']), id: z.string() }),
    action: z.string(),
    target: z.object({ type: z.string(), id: z.string() }).nullable(),
    data: z.record(z.string(), z.unknown()),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    created: unixSeconds,
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEvent' });
export type AuditEvent = z.infer<typeof AuditEvent>;

export const AuditVerification = z
  .object({
    object: z.literal('audit_verification'),
    valid: z.boolean(),
    checked: z.number().int(),
    first_bad_seq: z.number().int().nullable(),
    problem: z.string().nullable(),
  })
  .meta({ id: 'AuditVerification' });

export const ErrorBody = z
  .object({
    error: z.object({
      type: z.enum(ERROR_TYPES),
      code: z.string(),
      message: z.string(),
      request_id: z.string(),
      param: z.string().optional(),
    }),
  })
  .meta({ id: 'Error' });

export const RequestLog = z
  .object({
    id: z.string().describe('The request id, as sent in the `Request-Id` header'),
    object: z.literal('request_log'),
    created: unixSeconds,
    account: AccountId.nullable(),
    key: KeyId.nullable(),
    mode: z.enum(KEY_MODES).nullable(),
    method: z.string(),
    route: z.string().describe('The route or path, never a query string'),
    status: z.number().int(),
    latency_ms: z.number(),
    client_ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    error_code: z.string().nullable(),
  })
  .meta({ id: 'RequestLog' });
export type RequestLog = z.infer<typeof RequestLog>;
