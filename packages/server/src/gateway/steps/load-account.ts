import type { GatewayContext, StepResult } from '../context.js';

/** The key's account (cached): its rate limits apply, and a deleted account ends its keys. */
export async function loadAccount(ctx: GatewayContext): Promise<StepResult> {
  const key = ctx.key!;
  const found = ctx.parts.accounts.get(key.accountId as string);
  const account = found instanceof Promise ? await found : found;
  if (account === undefined) return 'invalid_api_key';
  ctx.account = account;
  const scopes = key.scopes;
  ctx.principal = {
    accountId: account.id,
    keyId: key.id,
    mode: key.mode as 'test' | 'live',
    type: key.type as 'secret' | 'restricted' | 'publishable',
    scopes,
    scopesHeader: scopes.length === 1 ? (scopes[0] as string) : scopes.join(','),
  };
  return null;
}
