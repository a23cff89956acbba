import type { GatewayContext, StepResult } from '../context.js';
import { newRequestId } from '../request-id.js';

/** Every request gets a `req_…` id first, so every answer (refusals too) carries one. */
export function assignRequestId(ctx: GatewayContext): StepResult {
  ctx.requestId = ctx.req.requestId ?? newRequestId(ctx.parts.clock.now());
  return null;
}
