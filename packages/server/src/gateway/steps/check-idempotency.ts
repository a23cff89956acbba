import type { GatewayContext, StepResult } from '../context.js';
import { header } from '../context.js';
import { validIdempotencyKey } from '../idempotency-store.js';

/**
 * `Idempotency-Key` on POST: validated here (1–255 printable characters). When the caller
 * gave the body, the key is also looked up: a repeat is answered from the store, a key in
 * flight or reused with a different request is refused. Without the body (a streaming proxy
 * reads it only once the request is authorized) the caller runs `beginIdempotency` next.
 */
export function checkIdempotency(ctx: GatewayContext): StepResult | Promise<StepResult> {
  if (ctx.req.method !== 'POST') return null;
  const value = header(ctx, 'idempotency-key');
  if (value === undefined) return null;
  if (!validIdempotencyKey(value)) return 'idempotency_key_invalid';
  ctx.idempotencyKey = value;
  const body = ctx.req.body;
  if (body === undefined) return null;
  return begin(ctx, value, body);
}

async function begin(ctx: GatewayContext, value: string, body: Buffer | string): Promise<StepResult> {
  const { idempotency } = ctx.parts;
  const p = ctx.principal!;
  const begin = await idempotency.begin(
    idempotency.kvKey(p.accountId, p.mode, value),
    idempotency.fingerprint(ctx.req.method, ctx.req.url, header(ctx, 'content-type'), body),
  );
  switch (begin.kind) {
    case 'in_use':
      return 'idempotency_key_in_use';
    case 'reused':
      return 'idempotency_key_reused';
    case 'unreplayable':
      return 'idempotency_key_unreplayable';
    case 'replay':
      ctx.idempotency = { kind: 'replay', response: begin.response };
      return null;
    case 'proceed':
      ctx.idempotency = { kind: 'proceed', ticket: begin.ticket };
      return null;
  }
}
