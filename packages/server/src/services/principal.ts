import { GatehouseError, type KeyMode, type KeyType } from '@gatehouse/contract';
import { scopeAllows } from '@gatehouse/core';
import type { AuditActorType } from '@gatehouse/store';

/** Who is acting: an operator key, an account's key, or the CLI on the operator's machine. */
export type Principal =
  | { kind: 'operator'; keyId: string; scopes: readonly string[] }
  | {
      kind: 'account';
      keyId: string;
      accountId: string;
      mode: KeyMode;
      type: KeyType;
      scopes: readonly string[];
    }
  | { kind: 'cli'; user: string };

/** A principal plus where the request came from, for the audit trail. */
export interface Caller {
  principal: Principal;
  ip: string | null;
  requestId: string | null;
}

export function auditActor(principal: Principal): { actorType: AuditActorType; actorId: string } {
  switch (principal.kind) {
    case 'operator':
      return { actorType: 'admin_key', actorId: principal.keyId };
    case 'account':
      return { actorType: 'api_key', actorId: principal.keyId };
    case 'cli':
      return { actorType: 'cli', actorId: `cli:${principal.user}` };
  }
}

export function isOperator(principal: Principal): boolean {
  return principal.kind === 'operator' || principal.kind === 'cli';
}

export function requireOperator(caller: Caller): void {
  if (!isOperator(caller.principal)) throw new GatehouseError('operator_only');
}

/** Refuses with 403 `insufficient_scope` unless the principal holds `scope`. */
export function requireScope(caller: Caller, scope: string): void {
  const p = caller.principal;
  if (p.kind === 'cli') return;
  if (!scopeAllows(p.scopes, scope)) throw new GatehouseError('insufficient_scope');
}

/**
 * True when `held` covers everything `wanted` grants: a caller may only hand out what it has
 * (no privilege escalation through key creation or update).
 */
export function scopeCovers(held: readonly string[], wanted: string): boolean {
  if (held.includes('*')) return true;
  if (wanted === '*') return false;
  const [resource, action] = wanted.split(':');
  if (action === '*') return scopeAllows(held, `${resource}:read`) && scopeAllows(held, `${resource}:write`);
  return scopeAllows(held, wanted);
}

/**
 * The account and mode a request acts on: an account key's own, or what an operator names.
 * Another account's id is a 404, never a 403.
 */
export function targetOf(
  caller: Caller,
  account: string | undefined,
  mode: KeyMode | undefined,
): { accountId: string; mode: KeyMode } {
  const p = caller.principal;
  if (p.kind === 'account') {
    if (account !== undefined && account !== p.accountId) {
      throw new GatehouseError('resource_missing', { param: 'account' });
    }
    if (mode !== undefined && mode !== p.mode) throw new GatehouseError('mode_mismatch', { param: 'mode' });
    return { accountId: p.accountId, mode: p.mode };
  }
  if (account === undefined) throw new GatehouseError('parameter_missing', { param: 'account' });
  if (mode === undefined) throw new GatehouseError('parameter_missing', { param: 'mode' });
  return { accountId: account, mode };
}

/**
 * Which objects a list may show: an account key sees its own account and mode only (another
 * account is a 404, the other mode a 403); an operator sees what it filters on, or everything.
 */
export function listScopeOf(
  caller: Caller,
  account: string | undefined,
  mode: KeyMode | undefined,
): { accountId?: string; mode?: KeyMode } {
  const p = caller.principal;
  if (p.kind === 'account') {
    if (account !== undefined && account !== p.accountId) {
      throw new GatehouseError('resource_missing', { param: 'account' });
    }
    if (mode !== undefined && mode !== p.mode) throw new GatehouseError('mode_mismatch');
    return { accountId: p.accountId, mode: p.mode };
  }
  const scope: { accountId?: string; mode?: KeyMode } = {};
  if (account !== undefined) scope.accountId = account;
  if (mode !== undefined) scope.mode = mode;
  return scope;
}
