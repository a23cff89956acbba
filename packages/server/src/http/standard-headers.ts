/** Strict-Transport-Security on every answer served over TLS: two years, subdomains too. */
export const HSTS = 'max-age=63072000; includeSubDomains';

/**
 * The headers on every answer Gatehouse writes itself: its request id, no caching, no content
 * sniffing, and under TLS, HSTS.
 */
export function standardHeaders(requestId: string, hsts: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'request-id': requestId,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  };
  if (hsts) headers['strict-transport-security'] = HSTS;
  return headers;
}
