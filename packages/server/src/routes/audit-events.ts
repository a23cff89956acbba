import { AuditEvent, AuditListQuery, AuditVerification, listOf } from '@gatehouse/contract';
import { type AnyRoute, defineRoute, listResponse } from '../http/route.js';
import type { Runtime } from '../runtime.js';

export function auditRoutes(rt: Runtime): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/v1/audit_events',
      summary: 'List audit events, newest first',
      tag: 'audit',
      auth: 'key',
      scope: 'audit_events:read',
      query: AuditListQuery,
      response: listOf(AuditEvent, 'AuditEventList'),
      handler: async ({ caller, query }) =>
        listResponse('/v1/audit_events', await rt.audit.list(caller, query)),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/audit_events/verify',
      summary: 'Verify the audit hash chain (operator)',
      tag: 'audit',
      auth: 'operator',
      response: AuditVerification,
      handler: ({ caller }) => rt.audit.verify(caller),
    }),
  ];
}
