import type { Clock } from '@gatehouse/core';
import type { AccountRow, Store } from '@gatehouse/store';

/**
 * Accounts by id, kept in memory for `ttlMs` (their rate limits are read on every request).
 * A changed account limit reaches the gateway within the TTL.
 */
export class AccountCache {
  private readonly entries = new Map<string, { row: AccountRow; fetchedAt: number }>();

  constructor(
    private readonly store: Pick<Store, 'getAccount'>,
    private readonly clock: Clock,
    private readonly ttlMs = 5_000,
    private readonly maxEntries = 50_000,
  ) {}

  get(id: string): AccountRow | Promise<AccountRow | undefined> | undefined {
    const hit = this.entries.get(id);
    if (hit !== undefined && this.clock.now() - hit.fetchedAt <= this.ttlMs) return hit.row;
    return this.load(id);
  }

  private async load(id: string): Promise<AccountRow | undefined> {
    const row = await this.store.getAccount(id);
    if (row === undefined) {
      this.entries.delete(id);
      return undefined;
    }
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(id, { row, fetchedAt: this.clock.now() });
    return row;
  }
}
