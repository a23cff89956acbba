import type { GatewayContext, StepResult } from '../context.js';

/** A route limited to some modes (say, a test-only simulator) refuses keys of the other mode. */
export function checkMode(ctx: GatewayContext): StepResult {
  const modes = ctx.route?.modes;
  if (modes === undefined) return null;
  return modes.includes(ctx.principal!.mode) ? null : 'mode_mismatch';
}
