import type { AccountRow } from '@gatehouse/store';
import type { GatewayContext, StepResult } from '../context.js';

/** The key's account (cached): its rate limits apply, and a deleted account ends its keys. */
export function loadAccount(ctx: GatewayContext): StepResult | Promise<StepResult> {
  const found = ctx.parts.accounts.get(ctx.key!.accountId as string);
  return found instanceof Promise
    ? found.then((account) => useAccount(ctx, account))
    : useAccount(ctx, found);
}

function useAccount(ctx: GatewayContext, account: AccountRow | undefined): StepResult {
  const key = ctx.key!;
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
