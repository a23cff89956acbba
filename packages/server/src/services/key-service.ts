import {
  type ApiKey,
  type CreateKeyRequest,
  DEFAULT_GRACE_PERIOD_SECONDS,
  DEFAULT_MAX_KEY_AGE_DAYS,
  GatehouseError,
  type KeyMode,
  type ListQuery,
  type RevokeKeyRequest,
  type RollKeyRequest,
  type UpdateKeyRequest,
} from '@gatehouse/contract';
import {
  type Clock,
  generateAdminKey,
  generateApiKey,
  type KeyHasher,
  keyHint,
  newId,
  normalizeCidr,
  type RandomBytes,
} from '@gatehouse/core';
import type { AccountRow, KeyPatch, KeyRow, Page, Store, StoreOps } from '@gatehouse/store';
import type { OutboxSignal } from '../webhooks/outbox-signal.js';
import { auditInput } from './audit-input.js';
import { writeEvent } from './event-service.js';
import type { KeyAuthenticator } from './key-authenticator.js';
import { keyStatus, toApiKey } from './key-view.js';
import {
  type Caller,
  listScopeOf,
  requireOperator,
  requireScope,
  scopeCovers,
  targetOf,
} from './principal.js';

export interface KeyServiceDeps {
  store: Store;
  hasher: KeyHasher;
  clock: Clock;
  random?: RandomBytes;
  authenticator: KeyAuthenticator;
  /** wakes the webhook dispatcher after key events are written */
  outbox?: OutboxSignal;
}

export interface CreatedAdminKey {
  id: string;
  secret: string;
  hint: string;
  created: number;
}

/** The API key lifecycle: create, list, get, update, roll, revoke, verify. */
export class KeyService {
  constructor(private readonly deps: KeyServiceDeps) {}

  async create(caller: Caller, input: CreateKeyRequest): Promise<ApiKey> {
    requireScope(caller, 'keys:write');
    const { accountId, mode } = targetOf(caller, input.account, input.mode);
    const account = await this.requireAccount(accountId);
    const now = this.deps.clock.now();
    const type = input.type;
    const scopes = this.scopesFor(caller, type, input.scopes);
    const ipAllowlist = normalizeAllowlist(input.ip_allowlist);
    if (input.expires_at !== undefined && input.expires_in_seconds !== undefined) {
      throw new GatehouseError('parameter_invalid', {
        param: 'expires_at',
        message: 'Give either expires_at or expires_in_seconds, not both.',
      });
    }
    let expiresAt: number | null = null;
    if (input.expires_at !== undefined) {
      if (input.expires_at * 1000 <= now) {
        throw new GatehouseError('parameter_invalid', {
          param: 'expires_at',
          message: 'expires_at must be in the future.',
        });
      }
      expiresAt = input.expires_at * 1000;
    } else if (input.expires_in_seconds !== undefined) {
      expiresAt = now + input.expires_in_seconds * 1000;
    }
    const { secret, row } = this.mint(type, mode, now, {
      accountId,
      name: input.name ?? null,
      scopes,
      ipAllowlist,
      rateLimits: input.rate_limits ?? null,
      metadata: input.metadata ?? {},
      expiresAt,
    });
    await this.deps.store.transaction(async (tx) => {
      await tx.insertKey(row);
      await tx.appendAudit(
        auditInput(caller, now, 'key.created', accountId, { type: 'api_key', id: row.id }, describeKey(row)),
      );
      await keyEvent(tx, caller, 'key.created', row, now, account.maxKeyAgeDays);
    });
    this.deps.outbox?.notify();
    return toApiKey(row, now, account.maxKeyAgeDays, secret);
  }

  async list(
    caller: Caller,
    query: ListQuery & { account?: string | undefined; mode?: KeyMode | undefined },
  ): Promise<Page<ApiKey>> {
    requireScope(caller, 'keys:read');
    const filter = listScopeOf(caller, query.account, query.mode);
    const page = await this.deps.store.listKeys(
      { ...filter, type: undefined },
      { limit: query.limit, startingAfter: query.starting_after, endingBefore: query.ending_before },
    );
    const now = this.deps.clock.now();
    const ages = new Map<string, number>();
    const data: ApiKey[] = [];
    for (const row of page.data) {
      if (row.type === 'admin' || row.accountId === null) continue;
      let age = ages.get(row.accountId);
      if (age === undefined) {
        age = (await this.deps.store.getAccount(row.accountId))?.maxKeyAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS;
        ages.set(row.accountId, age);
      }
      data.push(toApiKey(row, now, age));
    }
    return { data, hasMore: page.hasMore };
  }

  async get(caller: Caller, id: string): Promise<ApiKey> {
    requireScope(caller, 'keys:read');
    const { row, account } = await this.visibleKey(caller, id, this.deps.store);
    return toApiKey(row, this.deps.clock.now(), account.maxKeyAgeDays);
  }

  async update(caller: Caller, id: string, input: UpdateKeyRequest): Promise<ApiKey> {
    requireScope(caller, 'keys:write');
    const now = this.deps.clock.now();
    const result = await this.deps.store.transaction(async (tx) => {
      const { row, account } = await this.visibleKey(caller, id, tx);
      const status = keyStatus(row, now);
      if (status === 'revoked' || status === 'expired') throw new GatehouseError('key_not_active');
      const patch: KeyPatch = {};
      if (input.name !== undefined) patch.name = input.name;
      if (input.scopes !== undefined) {
        if (row.type !== 'restricted') {
          throw new GatehouseError('parameter_invalid', {
            param: 'scopes',
            message: 'Only restricted keys have scopes that can be changed.',
          });
        }
        patch.scopes = this.scopesFor(caller, 'restricted', input.scopes);
      }
      if (input.ip_allowlist !== undefined) patch.ipAllowlist = normalizeAllowlist(input.ip_allowlist);
      if (input.rate_limits !== undefined) patch.rateLimits = input.rate_limits;
      if (input.metadata !== undefined) patch.metadata = input.metadata;
      if (input.expires_at !== undefined) {
        if (input.expires_at !== null && input.expires_at * 1000 <= now) {
          throw new GatehouseError('parameter_invalid', {
            param: 'expires_at',
            message: 'expires_at must be in the future.',
          });
        }
        patch.expiresAt = input.expires_at === null ? null : input.expires_at * 1000;
      }
      const updated = (await tx.updateKey(id, patch)) as KeyRow;
      await tx.appendAudit(
        auditInput(
          caller,
          now,
          'key.updated',
          row.accountId,
          { type: 'api_key', id },
          {
            changed: Object.keys(input).sort(),
            ...describeKey(updated),
          },
        ),
      );
      return { updated, account };
    });
    await this.deps.authenticator.invalidate(id);
    return toApiKey(result.updated, now, result.account.maxKeyAgeDays);
  }

  /**
   * Issues a replacement now; the old key keeps working for the grace period (0 = refused at
   * once), then is refused. The replacement inherits type, mode, scopes, allowlist and limits.
   */
  async roll(caller: Caller, id: string, input: RollKeyRequest): Promise<ApiKey> {
    requireScope(caller, 'keys:write');
    const now = this.deps.clock.now();
    const grace = input.grace_period_seconds ?? DEFAULT_GRACE_PERIOD_SECONDS;
    const created = await this.deps.store.transaction(async (tx) => {
      const { row, account } = await this.visibleKey(caller, id, tx);
      const status = keyStatus(row, now);
      if (status === 'revoked' || status === 'expired' || row.rolledTo !== null) {
        throw new GatehouseError('key_not_active');
      }
      const { secret, row: next } = this.mint(row.type, row.mode, now, {
        accountId: row.accountId,
        name: input.name ?? row.name,
        scopes: row.scopes,
        ipAllowlist: row.ipAllowlist,
        rateLimits: row.rateLimits,
        metadata: row.metadata,
        expiresAt: null,
      });
      const graceEnd = now + grace * 1000;
      const oldExpiry = row.expiresAt === null ? graceEnd : Math.min(row.expiresAt, graceEnd);
      await tx.insertKey(next);
      await tx.updateKey(row.id, { rolledTo: next.id, expiresAt: oldExpiry });
      const target = { type: 'api_key', id: row.id };
      await tx.appendAudit(
        auditInput(caller, now, 'key.rolled', row.accountId, target, {
          new_key: next.id,
          grace_period_seconds: grace,
          old_key_expires_at: Math.floor(oldExpiry / 1000),
        }),
      );
      await tx.appendAudit(
        auditInput(
          caller,
          now,
          'key.created',
          row.accountId,
          { type: 'api_key', id: next.id },
          {
            ...describeKey(next),
            rolled_from: row.id,
          },
        ),
      );
      const rolled = { ...row, rolledTo: next.id, expiresAt: oldExpiry };
      await keyEvent(tx, caller, 'key.rolled', rolled, now, account.maxKeyAgeDays);
      await keyEvent(tx, caller, 'key.created', next, now, account.maxKeyAgeDays);
      return { view: toApiKey(next, now, account.maxKeyAgeDays, secret) };
    });
    this.deps.outbox?.notify();
    await this.deps.authenticator.invalidate(id);
    return created.view;
  }

  /** Refused at once, on every instance. Revoking a revoked key changes nothing. */
  async revoke(caller: Caller, id: string, input: RevokeKeyRequest): Promise<ApiKey> {
    requireScope(caller, 'keys:write');
    const now = this.deps.clock.now();
    const result = await this.deps.store.transaction(async (tx) => {
      const { row, account } = await this.visibleKey(caller, id, tx);
      if (row.revokedAt !== null) return { row, account, changed: false };
      const reason = input.reason ?? 'requested';
      const updated = (await tx.updateKey(id, { revokedAt: now, revokedReason: reason })) as KeyRow;
      await tx.appendAudit(
        auditInput(caller, now, 'key.revoked', row.accountId, { type: 'api_key', id }, { reason }),
      );
      await keyEvent(tx, caller, 'key.revoked', updated, now, account.maxKeyAgeDays);
      return { row: updated, account, changed: true };
    });
    if (result.changed) this.deps.outbox?.notify();
    if (result.changed) await this.deps.authenticator.invalidate(id);
    return toApiKey(result.row, now, result.account.maxKeyAgeDays);
  }

  /** Service use: is this secret a live key, and whose? Operator only; the reason is given. */
  async verify(caller: Caller, secret: string, ip: string | null) {
    requireOperator(caller);
    const result = await this.deps.authenticator.check(secret, ip);
    const now = this.deps.clock.now();
    const row = result.row;
    let key: ApiKey | null = null;
    if (row !== null && row.type !== 'admin' && row.accountId !== null) {
      const account = await this.deps.store.getAccount(row.accountId);
      key = toApiKey(row, now, account?.maxKeyAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS);
    }
    return {
      object: 'key_verification' as const,
      valid: result.ok,
      reason: result.ok ? null : result.reason,
      key,
    };
  }

  /** Operator keys (`adm_…`) are made on the operator's machine, through the CLI. */
  async createAdminKey(caller: Caller, name: string | null): Promise<CreatedAdminKey> {
    requireOperator(caller);
    const now = this.deps.clock.now();
    const { secret, row } = this.mint('admin', null, now, {
      accountId: null,
      name,
      scopes: ['*'],
      ipAllowlist: [],
      rateLimits: null,
      metadata: {},
      expiresAt: null,
    });
    await this.deps.store.transaction(async (tx) => {
      await tx.insertKey(row);
      await tx.appendAudit(
        auditInput(caller, now, 'admin_key.created', null, { type: 'admin_key', id: row.id }, { name }),
      );
    });
    return { id: row.id, secret, hint: row.hint, created: Math.floor(now / 1000) };
  }

  /** Operator only: an operator key is refused at once. Revoking a revoked key changes nothing. */
  async revokeAdminKey(caller: Caller, id: string, input: RevokeKeyRequest): Promise<void> {
    requireOperator(caller);
    const now = this.deps.clock.now();
    const changed = await this.deps.store.transaction(async (tx) => {
      const row = await tx.getKey(id);
      if (row === undefined || row.type !== 'admin')
        throw new GatehouseError('resource_missing', { param: 'id' });
      if (row.revokedAt !== null) return false;
      const reason = input.reason ?? 'requested';
      await tx.updateKey(id, { revokedAt: now, revokedReason: reason });
      await tx.appendAudit(
        auditInput(caller, now, 'admin_key.revoked', null, { type: 'admin_key', id }, { reason }),
      );
      return true;
    });
    if (changed) await this.deps.authenticator.invalidate(id);
  }

  /** Generates a secret and the row that keeps only its HMAC and a display hint. */
  private mint(
    type: KeyRow['type'],
    mode: KeyMode | null,
    now: number,
    fields: Pick<
      KeyRow,
      'accountId' | 'name' | 'scopes' | 'ipAllowlist' | 'rateLimits' | 'metadata' | 'expiresAt'
    >,
  ): { secret: string; row: KeyRow } {
    const secret =
      type === 'admin'
        ? generateAdminKey(this.deps.random)
        : generateApiKey(type, mode as KeyMode, this.deps.random);
    const { hash, version } = this.deps.hasher.hash(secret);
    const row: KeyRow = {
      id: newId('key', now),
      type,
      mode,
      ...fields,
      keyHash: hash,
      pepperVersion: version,
      hint: keyHint(secret),
      createdAt: now,
      lastUsedAt: null,
      revokedAt: null,
      revokedReason: null,
      rolledTo: null,
    };
    return { secret, row };
  }

  private async requireAccount(id: string): Promise<AccountRow> {
    const account = await this.deps.store.getAccount(id);
    if (!account) throw new GatehouseError('resource_missing', { param: 'account' });
    return account;
  }

  /** A key of another account, another mode, or an operator key is "no such object". */
  private async visibleKey(
    caller: Caller,
    id: string,
    ops: StoreOps,
  ): Promise<{ row: KeyRow; account: AccountRow }> {
    const row = await ops.getKey(id);
    const p = caller.principal;
    const visible =
      row !== undefined &&
      row.type !== 'admin' &&
      row.accountId !== null &&
      (p.kind !== 'account' || (row.accountId === p.accountId && row.mode === p.mode));
    if (!visible) throw new GatehouseError('resource_missing', { param: 'id' });
    const account = await ops.getAccount(row.accountId as string);
    if (!account) throw new GatehouseError('resource_missing', { param: 'id' });
    return { row, account };
  }

  private scopesFor(caller: Caller, type: KeyRow['type'], requested: string[] | undefined): string[] {
    let scopes: string[];
    if (type === 'secret') {
      if (requested !== undefined && !(requested.length === 1 && requested[0] === '*')) {
        throw new GatehouseError('parameter_invalid', {
          param: 'scopes',
          message: 'Secret keys hold every scope; create a restricted key to limit scopes.',
        });
      }
      scopes = ['*'];
    } else if (type === 'publishable') {
      if (requested !== undefined && requested.length > 0) {
        throw new GatehouseError('parameter_invalid', {
          param: 'scopes',
          message: 'Publishable keys have no scopes; they reach only public routes.',
        });
      }
      scopes = [];
    } else {
      if (requested === undefined || requested.length === 0) {
        throw new GatehouseError('parameter_missing', {
          param: 'scopes',
          message: 'Restricted keys need at least one scope.',
        });
      }
      scopes = [...new Set(requested)].sort();
    }
    const p = caller.principal;
    if (p.kind === 'account') {
      for (const scope of scopes) {
        if (!scopeCovers(p.scopes, scope)) {
          throw new GatehouseError('insufficient_scope', {
            param: 'scopes',
            message: 'A key cannot grant a scope that the calling key does not hold.',
          });
        }
      }
    }
    return scopes;
  }
}

function normalizeAllowlist(entries: string[] | undefined): string[] {
  if (entries === undefined) return [];
  return entries.map((entry, i) => {
    const normalized = normalizeCidr(entry);
    if (normalized === null) {
      throw new GatehouseError('parameter_invalid', {
        param: `ip_allowlist[${i}]`,
        message: 'Each ip_allowlist entry must be an IPv4 or IPv6 address or CIDR range.',
      });
    }
    return normalized;
  });
}

/** Publishes a key event (its public view: never the secret) in the change's transaction. */
async function keyEvent(
  tx: StoreOps,
  caller: Caller,
  type: 'key.created' | 'key.rolled' | 'key.revoked',
  row: KeyRow,
  now: number,
  maxKeyAgeDays: number,
): Promise<void> {
  if (row.accountId === null || row.mode === null || row.type === 'admin') return;
  await writeEvent(
    tx,
    {
      accountId: row.accountId,
      mode: row.mode,
      type,
      data: { object: toApiKey(row, now, maxKeyAgeDays) },
      requestId: caller.requestId,
    },
    now,
  );
}

/** What an audit event records about a key: never the secret or its hash. */
function describeKey(row: KeyRow): Record<string, unknown> {
  return {
    type: row.type,
    mode: row.mode,
    name: row.name,
    hint: row.hint,
    scopes: row.scopes,
    ip_allowlist: row.ipAllowlist,
    rate_limits: row.rateLimits,
    expires_at: row.expiresAt === null ? null : Math.floor(row.expiresAt / 1000),
  };
}
