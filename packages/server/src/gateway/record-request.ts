import type { IncomingMessage } from 'node:http';
import type { GatewayEngine } from './engine.js';
import type { GatewayDecision } from './types.js';

/** The request-log status of a request whose client went away before its answer (nginx's convention). */
export const CLIENT_GONE = 499;

/** The request-log line for a raw node:http request the proxy (or its upgrade path) decided on. */
export function recordRequest(
  engine: GatewayEngine,
  req: IncomingMessage,
  decision: GatewayDecision,
  createdAt: number,
  start: number,
  status: number,
  errorCode: string | null,
): void {
  engine.record(
    decision,
    req.method ?? 'GET',
    status,
    createdAt,
    performance.now() - start,
    req.headers['user-agent'],
    errorCode,
  );
}
