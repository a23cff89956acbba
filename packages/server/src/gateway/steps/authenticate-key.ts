import { isGatehouseError } from '@gatehouse/contract';
import type { GatewayContext, StepResult } from '../context.js';

/**
 * Key parse and checksum, cached lookup, status, expiry and IP allowlist, all in the shared
 * KeyAuthenticator (a malformed key never reaches the store; revocations drop cached entries
 * on every instance). Every failure also counts against the client IP's failed-auth limit.
 */
export async function authenticateKey(ctx: GatewayContext): Promise<StepResult> {
  try {
    const row = await ctx.parts.authenticator.authenticateRow(ctx.secret as string, ctx.clientIp);
    if (row.type === 'admin' || row.accountId === null || row.mode === null)
      return await failed(ctx, 'invalid_api_key');
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
