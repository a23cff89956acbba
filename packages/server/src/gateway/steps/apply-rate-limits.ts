import type { RateLimitResult } from '@gatehouse/kv';
import type { GatewayContext, StepResult } from '../context.js';
import { rateLimitState } from '../rate-limit-policy.js';

/**
 * Several windows per key and per account and mode (separate counters), all checked and
 * counted by one atomic kv call. The key's windows come from the key, else the
 * account, else the gateway default; the account's from the account, else the default.
 * RateLimit-Policy and RateLimit go on every answer from here on; 429 carries Retry-After.
 */
export async function applyRateLimits(ctx: GatewayContext): Promise<StepResult> {
  const { policies, kv } = ctx.parts;
  const key = ctx.key!;
  const account = ctx.account!;
  const keyPolicy =
    key.rateLimits !== null ? policies.forKey(key.rateLimits) : policies.forKey(account.rateLimits);
  const accountPolicy = policies.forAccount(account.rateLimits);
  const none = keyPolicy.windows.length === 0;
  const noneAccount = accountPolicy.windows.length === 0;
  if (none && noneAccount) return null;
  // One atomic kv call for both (one round trip on Redis): a request refused by one limit is
  // counted against neither, so a burst held back by the account does not use up the key.
  // Both counters carry the account as a hash tag: one call's keys (and the window keys the
  // script derives from them) share a Redis Cluster slot.
  const keyCounter = `rl:{${account.id}}:key:${key.id}`;
  const accountCounter = `rl:{${account.id}}:acct:${key.mode}`;
  let keyResult: RateLimitResult | null = null;
  let accountResult: RateLimitResult | null = null;
  if (none) accountResult = await kv.rateLimit(accountCounter, accountPolicy.windows);
  else if (noneAccount) keyResult = await kv.rateLimit(keyCounter, keyPolicy.windows);
  else {
    const both = await kv.rateLimitAll([
      { key: keyCounter, windows: keyPolicy.windows },
      { key: accountCounter, windows: accountPolicy.windows },
    ]);
    keyResult = both.results[0] as RateLimitResult;
    accountResult = both.results[1] as RateLimitResult;
  }
  const checks = [];
  if (keyResult !== null) checks.push({ policy: keyPolicy, result: keyResult });
  if (accountResult !== null) checks.push({ policy: accountPolicy, result: accountResult });
  const state = rateLimitState(checks);
  ctx.headers['ratelimit-policy'] = policies.policyHeader(keyPolicy, accountPolicy);
  if (state.header !== '') ctx.headers['ratelimit'] = state.header;
  if ((keyResult === null || keyResult.allowed) && (accountResult === null || accountResult.allowed))
    return null;
  ctx.headers['retry-after'] = String(Math.max(1, state.retryAfter));
  return 'rate_limited';
}
