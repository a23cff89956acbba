import { requiredScopeFor, scopeAllows } from '@gatehouse/core';
import type { GatewayContext, StepResult } from '../context.js';

/**
 * The scope the route needs: the configured one, else derived from method and path
 * (`POST /v1/payments` → `payments:write`; a path with dot segments or encoded slashes needs
 * `*`). Publishable keys hold no scopes and reach only public routes (next step): they need a
 * scope only where a public route configures one.
 */
export function checkScope(ctx: GatewayContext): StepResult {
  const p = ctx.principal!;
  const route = ctx.route;
  // publishable keys off public routes are refused by the next step, with its own code
  if (p.type === 'publishable' && (route === null || !route.public || route.scope === undefined)) return null;
  if (p.scopes.length === 1 && p.scopes[0] === '*') return null;
  const required = route?.scope ?? requiredScopeFor(ctx.req.method, ctx.path);
  return scopeAllows(p.scopes, required) ? null : 'insufficient_scope';
}
