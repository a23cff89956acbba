import type { ApiKey, KeyMode, KeyStatus, KeyType } from '@gatehouse/contract';
import type { KeyRow } from '@gatehouse/store';

const DAY_MS = 24 * 3600 * 1000;
/** A key is "expiring" this long before its expiry (or while a roll's grace period runs). */
export const EXPIRING_WINDOW_MS = 7 * DAY_MS;

export function keyStatus(row: KeyRow, now: number): KeyStatus {
  if (row.revokedAt !== null && row.revokedAt <= now) return 'revoked';
  if (row.expiresAt !== null && row.expiresAt <= now) return 'expired';
  if (row.rolledTo !== null || (row.expiresAt !== null && row.expiresAt - now <= EXPIRING_WINDOW_MS)) {
    return 'expiring';
  }
  return 'active';
}

const seconds = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** The public shape of a key. `secret` is passed only by the response that creates the key. */
export function toApiKey(row: KeyRow, now: number, maxKeyAgeDays: number, secret?: string): ApiKey {
  const status = keyStatus(row, now);
  const view: ApiKey = {
    id: row.id,
    object: 'api_key',
    account: row.accountId ?? '',
    type: row.type as KeyType,
    mode: row.mode as KeyMode,
    name: row.name,
    hint: row.hint,
    scopes: row.scopes,
    ip_allowlist: row.ipAllowlist,
    rate_limits: row.rateLimits,
    metadata: row.metadata,
    status,
    created: Math.floor(row.createdAt / 1000),
    expires_at: seconds(row.expiresAt),
    last_used_at: seconds(row.lastUsedAt),
    revoked_at: seconds(row.revokedAt),
    revoked_reason: row.revokedReason,
    rolled_to: row.rolledTo,
    rotation_due:
      status !== 'revoked' && status !== 'expired' && now - row.createdAt > maxKeyAgeDays * DAY_MS,
  };
  if (secret !== undefined) view.secret = secret;
  return view;
}
