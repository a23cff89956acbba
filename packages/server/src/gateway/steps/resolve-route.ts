import type { GatewayContext, StepResult } from '../context.js';
import { matchRoute } from '../route-table.js';

/** Splits off the query string and finds the configured route (scope override, public, modes). */
export function resolveRoute(ctx: GatewayContext): StepResult {
  const url = ctx.req.url;
  const q = url.indexOf('?');
  ctx.path = q === -1 ? url : url.slice(0, q);
  ctx.route = matchRoute(ctx.parts.routes, ctx.req.method, ctx.path);
  ctx.clientIp = ctx.parts.resolveClientIp(ctx.req.remoteAddress, ctx.req.headers['x-forwarded-for']);
  return null;
}
