import type { GatewayContext, StepResult } from '../context.js';
import { matchRoute } from '../route-table.js';

/** Finds the configured route (scope override, public, modes) for the path without its query. */
export function resolveRoute(ctx: GatewayContext): StepResult {
  ctx.route = matchRoute(ctx.parts.routes, ctx.req.method, ctx.path);
  return null;
}
