import type { KeyMode } from '@gatehouse/contract';

/** The address one attempt connects to: checked after DNS resolution, used without a second lookup. */
export interface WebhookTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

/**
 * The SSRF and scheme rules for webhook URLs. `check` runs when an endpoint is created or
 * its URL changes (a GatehouseError `webhook_url_invalid` or `webhook_url_forbidden`);
 * `resolve` runs before every attempt, so a host that later resolves to a forbidden address
 * (DNS rebinding) is refused then.
 */
export interface WebhookUrlGuard {
  /** The normalised URL, or a GatehouseError. */
  check(url: string, mode: KeyMode): Promise<string>;
  /**
   * The checked address, or a GatehouseError; settles within `lookupTimeoutMs` when given
   * (a WebhookUrlError with reason `lookup_timeout` when the name has not resolved by then).
   */
  resolve(url: string, mode: KeyMode, lookupTimeoutMs?: number): Promise<WebhookTarget>;
}
