import { newId } from '@gatehouse/core';
import type { AuditInput } from '@gatehouse/store';
import { auditActor, type Caller } from './principal.js';

/** Builds the audit event for a change made by `caller`; written in the change's transaction. */
export function auditInput(
  caller: Caller,
  now: number,
  action: string,
  accountId: string | null,
  target: { type: string; id: string } | null,
  data: Record<string, unknown> = {},
): AuditInput {
  return {
    id: newId('aud', now),
    createdAt: now,
    accountId,
    ...auditActor(caller.principal),
    action,
    targetType: target?.type ?? null,
    targetId: target?.id ?? null,
    data,
    ip: caller.ip,
    requestId: caller.requestId,
  };
}
