import type { RequestLogEntry } from '../services/request-log.js';
import type { GatewayDecision } from './types.js';

/**
 * The request-log line for a request the gateway decided on: the path without its query
 * string, no header values but the user agent (truncated), never a body or a key.
 */
export function requestLogEntry(
  decision: GatewayDecision,
  method: string,
  status: number,
  createdAt: number,
  latencyMs: number,
  userAgent: string | string[] | undefined,
  errorCode: string | null,
): RequestLogEntry {
  const p = decision.principal;
  const ua = Array.isArray(userAgent) ? userAgent[0] : userAgent;
  return {
    id: decision.requestId,
    createdAt,
    accountId: p?.accountId ?? null,
    keyId: p?.keyId ?? null,
    mode: p?.mode ?? null,
    method,
    route: decision.path,
    status,
    latencyMs: Math.round(latencyMs * 100) / 100,
    clientIp: decision.clientIp,
    userAgent: ua === undefined ? null : ua.length > 256 ? ua.slice(0, 256) : ua,
    errorCode,
  };
}
