import type { ErrorCode } from '@gatehouse/contract';
import type { Clock } from '@gatehouse/core';
import type { Kv } from '@gatehouse/kv';
import type { AccountRow, KeyRow } from '@gatehouse/store';
import type { KeyAuthenticator } from '../services/key-authenticator.js';
import type { LastUsedTracker } from '../services/last-used-tracker.js';
import type { AccountCache } from './account-cache.js';
import type { BrowserKeyAlerts } from './browser-key-alerts.js';
import type { FailedAuthLimiter } from './failed-auth-limiter.js';
import type { GatewayConfig } from './gateway-config.js';
import type { IdempotencyStore } from './idempotency-store.js';
import type { RateLimitPolicies } from './rate-limit-policy.js';
import type { GatewayRoute } from './route-table.js';
import type { GatewayPrincipal, GatewayRequest, IdempotencyOutcome } from './types.js';
import type { VerifiedKeyCache } from './verified-key-cache.js';

/** What the steps share, built once per engine. */
export interface EngineParts {
  config: GatewayConfig;
  routes: readonly GatewayRoute[];
  allowedOrigins: ReadonlySet<string>;
  authenticator: KeyAuthenticator;
  verified: VerifiedKeyCache;
  lastUsed: Pick<LastUsedTracker, 'record'>;
  accounts: AccountCache;
  kv: Kv;
  clock: Clock;
  resolveClientIp: (
    peer: string | null | undefined,
    forwardedFor: string | string[] | undefined,
  ) => string | null;
  failedAuth: FailedAuthLimiter;
  browserAlerts: BrowserKeyAlerts;
  policies: RateLimitPolicies;
  idempotency: IdempotencyStore;
}

/** One request's way through the steps; each step reads and fills it, or names a refusal. */
export interface GatewayContext {
  readonly parts: EngineParts;
  readonly req: GatewayRequest;
  requestId: string;
  /** the request's path without its query string */
  path: string;
  /** the client's address (X-Forwarded-For believed only from trusted proxies) */
  clientIp: string | null;
  route: GatewayRoute | null;
  secret: string | null;
  key: KeyRow | null;
  account: AccountRow | null;
  principal: GatewayPrincipal | null;
  /** response headers every outcome carries from here on */
  headers: Record<string, string>;
  idempotencyKey: string | null;
  idempotency: IdempotencyOutcome | null;
}

/** A step returns the refusal's code, or null to go on. */
export type StepResult = ErrorCode | null;
export type Step = (ctx: GatewayContext) => StepResult | Promise<StepResult>;

export function header(ctx: GatewayContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
