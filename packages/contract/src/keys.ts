/** The vocabulary of API keys shared by every package. */
export const KEY_TYPES = ['secret', 'restricted', 'publishable'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
/** `admin` keys are operator keys (`adm_…`): not tied to an account or a mode. */
export type AnyKeyType = KeyType | 'admin';

export const KEY_MODES = ['test', 'live'] as const;
export type KeyMode = (typeof KEY_MODES)[number];

/** Secret prefix per key type: `sk_live_…`, `rk_test_…`, `pk_live_…`, `adm_…`. */
export const KEY_KIND_BY_TYPE = { secret: 'sk', restricted: 'rk', publishable: 'pk', admin: 'adm' } as const;
export type KeyKind = (typeof KEY_KIND_BY_TYPE)[AnyKeyType];

export const KEY_STATUSES = ['active', 'expiring', 'expired', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export const REVOKE_REASONS = ['compromised', 'unused', 'rotated', 'requested', 'other'] as const;
export type RevokeReason = (typeof REVOKE_REASONS)[number];

/** Grace period bounds for `POST /v1/keys/:id/roll`. */
export const MAX_GRACE_PERIOD_SECONDS = 30 * 24 * 3600;
export const DEFAULT_GRACE_PERIOD_SECONDS = 24 * 3600;
export const DEFAULT_MAX_KEY_AGE_DAYS = 90;

/** Scopes are `<resource>:<read|write>` or `*`. */
export const SCOPE_PATTERN = /^(\*|[a-z][a-z0-9_]{0,63}:(read|write|\*))$/;
