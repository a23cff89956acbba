/**
 * Paths Gatehouse answers itself (DESIGN.md, "HTTP API"); everything else goes upstream when
 * an upstream is configured. Compared on the raw path, segment-wise: `/v1/keys/…` is ours,
 * `/v1/keysmith` is not.
 */
export const OWNED_PATH_PREFIXES = [
  '/v1/account',
  '/v1/accounts',
  '/v1/keys',
  '/v1/webhook_endpoints',
  '/v1/events',
  '/v1/request_logs',
  '/v1/audit_events',
  '/v1/subjects',
  '/v1/leaks',
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/_gatehouse',
  '/dashboard',
] as const;

export function isOwnedPath(url: string): boolean {
  for (const prefix of OWNED_PATH_PREFIXES) {
    if (!url.startsWith(prefix)) continue;
    const next = url.charCodeAt(prefix.length);
    // end of path, `/`, `?` or `#`
    if (Number.isNaN(next) || next === 47 || next === 63 || next === 35) return true;
  }
  return false;
}
