import type { GatewayContext, StepResult } from '../context.js';

/** An IP over its failed-authentication limit is refused before its key is looked up. */
export function checkFailedAuthBlock(ctx: GatewayContext): StepResult {
  const wait = ctx.parts.failedAuth.blockedFor(ctx.clientIp);
  if (wait === 0) return null;
  ctx.headers['retry-after'] = String(wait);
  return 'rate_limited';
}
