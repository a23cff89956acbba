import { presentedKey } from '../../app.js';
import type { GatewayContext, StepResult } from '../context.js';
import { header } from '../context.js';

/** `Authorization: Bearer <key>` (or Basic with the key as user name); none is 401. */
export function readPresentedKey(ctx: GatewayContext): StepResult {
  ctx.secret = presentedKey(header(ctx, 'authorization'));
  return ctx.secret === null ? 'authentication_required' : null;
}
