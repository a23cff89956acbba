/**
 * Whether an endpoint subscribed to `type`: an exact type, `prefix.*` (every type below the
 * prefix, at any depth: `payment.*` matches `payment.succeeded` and `payment.refund.created`)
 * or `*`.
 */
export function eventTypeMatches(enabledEvents: readonly string[], type: string): boolean {
  for (const pattern of enabledEvents) {
    if (pattern === '*' || pattern === type) return true;
    if (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))) return true;
  }
  return false;
}
