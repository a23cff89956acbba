import type { RateLimitResult, RateLimitWindow } from '@gatehouse/kv';

type Windows = readonly { limit: number; window_seconds: number }[];

/** A rate-limit policy compiled once: kv windows, their names and the RateLimit-Policy items. */
export interface CompiledPolicy {
  windows: RateLimitWindow[];
  names: string[];
  /** `"w1";q=100;w=1, "w3600";q=10000;w=3600` */
  header: string;
}

function compile(windows: Windows, prefix: string): CompiledPolicy {
  const names = windows.map((w) => `${prefix}w${w.window_seconds}`);
  return {
    windows: windows.map((w) => ({ limit: w.limit, windowMs: w.window_seconds * 1000 })),
    names,
    header: windows.map((w, i) => `"${names[i]}";q=${w.limit};w=${w.window_seconds}`).join(', '),
  };
}

/**
 * Policies by the identity of the `rate_limits` array of a cached key or account row, so the
 * hot path compiles nothing. The key's windows are named `w<seconds>`, the account's
 * `account-w<seconds>` (draft-ietf-httpapi-ratelimit-headers).
 */
export class RateLimitPolicies {
  private readonly keyPolicies = new WeakMap<Windows, CompiledPolicy>();
  private readonly accountPolicies = new WeakMap<Windows, CompiledPolicy>();
  private readonly combined = new WeakMap<CompiledPolicy, WeakMap<CompiledPolicy, string>>();
  readonly defaultKey: CompiledPolicy;
  readonly defaultAccount: CompiledPolicy;

  constructor(defaults: Windows) {
    this.defaultKey = compile(defaults, '');
    this.defaultAccount = compile(defaults, 'account-');
  }

  forKey(windows: Windows | null): CompiledPolicy {
    if (windows === null) return this.defaultKey;
    let p = this.keyPolicies.get(windows);
    if (p === undefined) {
      p = compile(windows, '');
      this.keyPolicies.set(windows, p);
    }
    return p;
  }

  forAccount(windows: Windows | null): CompiledPolicy {
    if (windows === null) return this.defaultAccount;
    let p = this.accountPolicies.get(windows);
    if (p === undefined) {
      p = compile(windows, 'account-');
      this.accountPolicies.set(windows, p);
    }
    return p;
  }

  /** The RateLimit-Policy header value for a key policy and an account policy together. */
  policyHeader(key: CompiledPolicy, account: CompiledPolicy): string {
    if (account.windows.length === 0) return key.header;
    if (key.windows.length === 0) return account.header;
    let inner = this.combined.get(key);
    if (inner === undefined) {
      inner = new WeakMap();
      this.combined.set(key, inner);
    }
    let value = inner.get(account);
    if (value === undefined) {
      value = `${key.header}, ${account.header}`;
      inner.set(account, value);
    }
    return value;
  }
}

/**
 * The RateLimit header (the window closest to running out) and, when refused, the seconds to
 * wait: the longest reset among the windows that are exhausted.
 */
export function rateLimitState(checks: readonly { policy: CompiledPolicy; result: RateLimitResult }[]): {
  header: string;
  retryAfter: number;
} {
  let best = '';
  let bestRemaining = Number.POSITIVE_INFINITY;
  let bestReset = 0;
  let retryAfterMs = 0;
  for (const { policy, result } of checks) {
    for (let i = 0; i < result.results.length; i++) {
      const w = result.results[i]!;
      if (w.remaining < bestRemaining || (w.remaining === bestRemaining && w.resetMs > bestReset)) {
        bestRemaining = w.remaining;
        bestReset = w.resetMs;
        best = policy.names[i] as string;
      }
      if (!result.allowed && w.remaining <= 0 && w.resetMs > retryAfterMs) retryAfterMs = w.resetMs;
    }
  }
  const header =
    best === '' ? '' : `"${best}";r=${bestRemaining};t=${Math.max(0, Math.ceil(bestReset / 1000))}`;
  return { header, retryAfter: retryAfterMs > 0 ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : 0 };
}
