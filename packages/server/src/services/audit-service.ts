import { type AuditEvent, GatehouseError } from '@gatehouse/contract';
import { AuditChainVerifier } from '@gatehouse/core';
import type { AuditRow, Page, Store } from '@gatehouse/store';
import { type Caller, requireOperator, requireScope } from './principal.js';

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    object: 'audit_event',
    seq: row.seq,
    account: row.accountId,
    actor: { type: row.actorType, id: row.actorId },
    action: row.action,
    target:
      row.targetType !== null && row.targetId !== null ? { type: row.targetType, id: row.targetId } : null,
    data: row.data,
    ip: row.ip,
    request_id: row.requestId,
    created: Math.floor(row.createdAt / 1000),
    prev_hash: row.prevHash,
    hash: row.hash,
  };
}

export interface AuditVerificationResult {
  object: 'audit_verification';
  valid: boolean;
  checked: number;
  first_bad_seq: number | null;
  problem: string | null;
}

export class AuditService {
  constructor(private readonly deps: { store: Store }) {}

  /** Account keys see their own account's events; operators see all (or one account's). */
  async list(
    caller: Caller,
    query: { limit: number; starting_after?: string | undefined; ending_before?: string | undefined } & {
      account?: string | undefined;
      action?: string | undefined;
    },
  ): Promise<Page<AuditEvent>> {
    requireScope(caller, 'audit_events:read');
    const p = caller.principal;
    let accountId = query.account;
    if (p.kind === 'account') {
      if (accountId !== undefined && accountId !== p.accountId) {
        throw new GatehouseError('resource_missing', { param: 'account' });
      }
      accountId = p.accountId;
    }
    const page = await this.deps.store.listAudit(
      { accountId, action: query.action },
      { limit: query.limit, startingAfter: query.starting_after, endingBefore: query.ending_before },
    );
    return { data: page.data.map(toAuditEvent), hasMore: page.hasMore };
  }

  /** Walks the whole chain; any edited, deleted, reordered or truncated row makes it invalid. */
  async verify(caller: Caller): Promise<AuditVerificationResult> {
    requireOperator(caller);
    const verifier = new AuditChainVerifier();
    for await (const row of this.deps.store.iterateAudit(1000)) {
      if (!verifier.push(row)) break;
    }
    const problem = verifier.finish(await this.deps.store.auditHead());
    return {
      object: 'audit_verification',
      valid: problem === null,
      checked: verifier.checked,
      first_bad_seq: problem?.seq ?? null,
      problem: problem?.problem ?? null,
    };
  }

  async *export(caller: Caller): AsyncIterable<AuditEvent> {
    requireOperator(caller);
    for await (const row of this.deps.store.iterateAudit(1000)) yield toAuditEvent(row);
  }
}
