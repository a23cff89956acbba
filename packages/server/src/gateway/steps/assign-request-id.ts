import { newId } from '@gatehouse/core';
import type { GatewayContext, StepResult } from '../context.js';

/** Every request gets a `req_…` id first, so every answer (refusals too) carries one. */
export function assignRequestId(ctx: GatewayContext): StepResult {
  ctx.requestId = ctx.req.requestId ?? newId('req', ctx.parts.clock.now());
  return null;
}
