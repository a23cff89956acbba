import type { ServerResponse } from 'node:http';
import { replayedHeaders } from './stored-response.js';
import type { GatewayRefusal, StoredResponse } from './types.js';

/** Sends a refusal with the contract's error body over a raw response. */
export function writeRefusal(res: ServerResponse, refusal: GatewayRefusal): void {
  const body = JSON.stringify(refusal.body);
  res.writeHead(refusal.status, {
    ...refusal.headers,
    'request-id': refusal.requestId,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** Sends a stored idempotent answer again, marked as a replay. */
export function writeReplay(
  res: ServerResponse,
  stored: StoredResponse,
  requestId: string,
  headers: Record<string, string>,
): void {
  const body = Buffer.from(stored.body, 'base64');
  res.writeHead(stored.status, {
    ...replayedHeaders(stored),
    ...headers,
    'request-id': requestId,
    'idempotent-replayed': 'true',
    'content-length': body.length,
  });
  res.end(body);
}
