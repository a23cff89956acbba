import type { GatewayContext, StepResult } from '../context.js';
import { header } from '../context.js';

/**
 * A secret or restricted key sent with a browser's Origin header has leaked into front-end
 * code: refused (unless configured to `allow`) and alerted either way.
 */
export function checkBrowserSecretKey(ctx: GatewayContext): StepResult {
  const p = ctx.principal!;
  if (p.type === 'publishable' || header(ctx, 'origin') === undefined) return null;
  const refuse = ctx.parts.config.browser_secret_keys === 'refuse';
  ctx.parts.browserAlerts.raise({
    keyId: p.keyId,
    accountId: p.accountId,
    ip: ctx.clientIp,
    requestId: ctx.requestId,
    refused: refuse,
  });
  return refuse ? 'secret_key_in_browser' : null;
}
