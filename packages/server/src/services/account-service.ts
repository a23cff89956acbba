import {
  type Account,
  type CreateAccountRequest,
  DEFAULT_MAX_KEY_AGE_DAYS,
  GatehouseError,
  type ListQuery,
} from '@gatehouse/contract';
import { type Clock, newId } from '@gatehouse/core';
import type { AccountRow, Page, Store } from '@gatehouse/store';
import { auditInput } from './audit-input.js';
import { type Caller, requireOperator } from './principal.js';

export function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    object: 'account',
    name: row.name,
    max_key_age_days: row.maxKeyAgeDays,
    rate_limits: row.rateLimits,
    metadata: row.metadata,
    created: Math.floor(row.createdAt / 1000),
  };
}

export class AccountService {
  constructor(private readonly deps: { store: Store; clock: Clock }) {}

  async create(caller: Caller, input: CreateAccountRequest): Promise<Account> {
    requireOperator(caller);
    const now = this.deps.clock.now();
    const row: AccountRow = {
      id: newId('acct', now),
      name: input.name,
      maxKeyAgeDays: input.max_key_age_days ?? DEFAULT_MAX_KEY_AGE_DAYS,
      rateLimits: input.rate_limits ?? null,
      metadata: input.metadata ?? {},
      createdAt: now,
    };
    await this.deps.store.transaction(async (tx) => {
      await tx.insertAccount(row);
      await tx.appendAudit(
        auditInput(
          caller,
          now,
          'account.created',
          row.id,
          { type: 'account', id: row.id },
          { name: row.name },
        ),
      );
    });
    return toAccount(row);
  }

  /** The caller's own account (`GET /v1/account`), or any account for an operator. */
  async get(caller: Caller, id: string): Promise<Account> {
    const p = caller.principal;
    if (p.kind === 'account' && p.accountId !== id)
      throw new GatehouseError('resource_missing', { param: 'id' });
    if (p.kind !== 'account') requireOperator(caller);
    const row = await this.deps.store.getAccount(id);
    if (!row) throw new GatehouseError('resource_missing', { param: 'id' });
    return toAccount(row);
  }

  async list(caller: Caller, query: ListQuery): Promise<Page<Account>> {
    requireOperator(caller);
    const page = await this.deps.store.listAccounts({
      limit: query.limit,
      startingAfter: query.starting_after,
      endingBefore: query.ending_before,
    });
    return { data: page.data.map(toAccount), hasMore: page.hasMore };
  }
}
