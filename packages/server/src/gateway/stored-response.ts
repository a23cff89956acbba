import type { StoredResponse } from './types.js';
import { HOP_BY_HOP_RESPONSE_HEADERS } from './upstream-request-headers.js';

/**
 * Headers a replay does not repeat: hop-by-hop ones, those of the transfer (the length is
 * recomputed), those the gateway sets afresh on every answer (Request-Id, the rate-limit
 * headers, HSTS) and cookies (a replay re-issues no session).
 */
const NOT_REPLAYED = new Set([
  ...HOP_BY_HOP_RESPONSE_HEADERS,
  'proxy-authenticate',
  'content-length',
  'date',
  'request-id',
  'ratelimit',
  'ratelimit-policy',
  'idempotent-replayed',
  'strict-transport-security',
  'set-cookie',
]);

type HeaderValue = string | number | readonly string[] | undefined;

/**
 * The headers of an answer kept for replay: everything but NOT_REPLAYED, so a replay says what
 * the first answer said (its Content-Type, a Content-Encoding its body needs to be read, a
 * Location, a Retry-After). Names are lower case.
 */
export function keptHeaders(
  headers: Iterable<[string, string]> | Record<string, HeaderValue>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const entries: Iterable<[string, HeaderValue]> =
    Symbol.iterator in headers
      ? (headers as Iterable<[string, string]>)
      : Object.entries(headers as Record<string, HeaderValue>);
  for (const [rawName, value] of entries) {
    const name = rawName.toLowerCase();
    if (value === undefined || NOT_REPLAYED.has(name)) continue;
    out[name] = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : [...value];
  }
  return out;
}

/** The headers to send a stored answer with (an answer kept by an older version has only its type). */
export function replayedHeaders(stored: StoredResponse): Record<string, string | string[]> {
  if (stored.headers !== undefined) return { ...stored.headers };
  return stored.contentType === null ? {} : { 'content-type': stored.contentType };
}

/** An answer to keep for replay: its status, kept headers and body. */
export function storedResponse(
  status: number,
  headers: Record<string, string | string[]>,
  body: Buffer,
): StoredResponse {
  const type = headers['content-type'];
  return {
    status,
    headers,
    contentType: typeof type === 'string' ? type : null,
    body: body.toString('base64'),
  };
}
