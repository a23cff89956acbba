import type { GatewayContext, StepResult } from '../context.js';
import { header } from '../context.js';

/** A declared Content-Length over the gateway's limit is refused before anything is read. */
export function checkBodyLimit(ctx: GatewayContext): StepResult {
  const length = header(ctx, 'content-length');
  if (length === undefined) return null;
  const n = Number(length);
  return Number.isFinite(n) && n <= ctx.parts.config.max_body_bytes ? null : 'body_too_large';
}
