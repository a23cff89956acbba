import { isGatehouseError } from '@gatehouse/contract';
import type { GatewayContext, StepResult } from '../context.js';

/**
 * Key parse and checksum, cached lookup, status, expiry and IP allowlist, all in the shared
 * KeyAuthenticator (a malformed key never reaches the store; revocations drop cached entries
 * on every instance), behind a one-second cache of verified secrets that skips the HMAC. Every
 * failure also counts against the client IP's failed-auth limit.
 */
export function authenticateKey(ctx: GatewayContext): StepResult | Promise<StepResult> {
  const { verified, clock, lastUsed } = ctx.parts;
  const row = verified.get(ctx.secret as string, ctx.clientIp);
  if (row === undefined) return lookUp(ctx);
  ctx.key = row;
  lastUsed.record(row.id, clock.now());
  return null;
}

async function lookUp(ctx: GatewayContext): Promise<StepResult> {
  const secret = ctx.secret as string;
  try {
    const { row, cacheUntil } = await ctx.parts.authenticator.authenticateForCache(secret, ctx.clientIp);
    if (row.type === 'admin' || row.accountId === null || row.mode === null)
      return await failed(ctx, 'invalid_api_key');
    ctx.parts.verified.remember(secret, row, cacheUntil);
    ctx.key = row;
    return null;
  } catch (err) {
    if (!isGatehouseError(err)) throw err;
    return await failed(ctx, err.code === 'ip_not_allowed' ? 'ip_not_allowed' : 'invalid_api_key');
  }
}

async function failed(ctx: GatewayContext, code: 'invalid_api_key' | 'ip_not_allowed'): Promise<StepResult> {
  const wait = await ctx.parts.failedAuth.fail(ctx.clientIp);
  if (wait === 0) return code;
  ctx.headers['retry-after'] = String(wait);
  return 'rate_limited';
}
