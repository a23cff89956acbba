import type { GatewayContext, StepResult } from '../context.js';
import { header } from '../context.js';

/** Publishable keys reach only routes marked public, and only from an allowed Origin. */
export function checkPublishableKey(ctx: GatewayContext): StepResult {
  if (ctx.principal!.type !== 'publishable') return null;
  if (ctx.route === null || !ctx.route.public) return 'publishable_key_not_allowed';
  const origin = header(ctx, 'origin');
  return origin !== undefined && ctx.parts.allowedOrigins.has(origin) ? null : 'publishable_key_not_allowed';
}
