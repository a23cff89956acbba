import {
  GatehouseError,
  listOf,
  type RequestLog,
  RequestLogListQuery,
  RequestLog as RequestLogSchema,
} from '@gatehouse/contract';
import type { Page, RequestLogRow, Store } from '@gatehouse/store';
import type { z } from 'zod';
import { type AnyRoute, defineRoute, listResponse } from '../http/route.js';
import type { Runtime } from '../runtime.js';
import { type Caller, requireScope } from '../services/principal.js';

export function toRequestLog(row: RequestLogRow): RequestLog {
  return {
    id: row.id,
    object: 'request_log',
    created: Math.floor(row.createdAt / 1000),
    account: row.accountId,
    key: row.keyId,
    mode: row.mode,
    method: row.method,
    route: row.route,
    status: row.status,
    latency_ms: row.latencyMs,
    client_ip: row.clientIp,
    user_agent: row.userAgent,
    error_code: row.errorCode,
  };
}

/**
 * An account's key sees its own account's requests in its own mode, never another's: a
 * foreign `account` is 404, the other mode 403, and a foreign `key` simply matches nothing.
 * Operators see every account (or the one they name).
 */
export async function listRequestLogs(
  store: Store,
  caller: Caller,
  query: z.output<typeof RequestLogListQuery>,
): Promise<Page<RequestLog>> {
  requireScope(caller, 'request_logs:read');
  if (query.starting_after !== undefined && query.ending_before !== undefined) {
    throw new GatehouseError('parameter_invalid', {
      param: 'ending_before',
      message: 'Use starting_after or ending_before, not both.',
    });
  }
  if (query.since !== undefined && query.until !== undefined && query.since > query.until) {
    throw new GatehouseError('parameter_invalid', {
      param: 'until',
      message: 'until must not be before since.',
    });
  }
  const p = caller.principal;
  let accountId = query.account;
  let mode = query.mode;
  if (p.kind === 'account') {
    if (accountId !== undefined && accountId !== p.accountId) {
      throw new GatehouseError('resource_missing', { param: 'account' });
    }
    if (mode !== undefined && mode !== p.mode) throw new GatehouseError('mode_mismatch', { param: 'mode' });
    accountId = p.accountId;
    mode = p.mode;
  }
  const page = await store.listRequestLogs(
    {
      accountId,
      mode,
      keyId: query.key,
      status: query.status,
      since: query.since === undefined ? undefined : query.since * 1000,
      until: query.until === undefined ? undefined : query.until * 1000,
    },
    { limit: query.limit, startingAfter: query.starting_after, endingBefore: query.ending_before },
  );
  return { data: page.data.map(toRequestLog), hasMore: page.hasMore };
}

export function requestLogRoutes(rt: Runtime): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/v1/request_logs',
      summary: 'List logged requests, newest first (no bodies, secrets or query strings are kept)',
      tag: 'request_logs',
      auth: 'key',
      scope: 'request_logs:read',
      query: RequestLogListQuery,
      response: listOf(RequestLogSchema, 'RequestLogList'),
      handler: async ({ caller, query }) =>
        listResponse('/v1/request_logs', await listRequestLogs(rt.store, caller, query)),
    }),
  ];
}
