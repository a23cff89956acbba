import { randomBytes } from 'node:crypto';

export type Metadata = Record<string, string>;

export interface Payment {
  id: string;
  object: 'payment';
  amount: number;
  amount_refunded: number;
  currency: string;
  status: 'succeeded' | 'failed';
  source: string;
  customer: string | null;
  description: string | null;
  metadata: Metadata;
  failure_code: string | null;
  failure_message: string | null;
  refunded: boolean;
  livemode: false;
  created: number;
  /** the Gatehouse request that made it: a replayed Idempotency-Key shows the same one */
  request_id: string;
}

export interface Refund {
  id: string;
  object: 'refund';
  payment: string;
  amount: number;
  currency: string;
  status: 'succeeded';
  created: number;
  request_id: string;
}

export interface Customer {
  id: string;
  object: 'customer';
  email: string | null;
  name: string | null;
  description: string | null;
  metadata: Metadata;
  livemode: false;
  created: number;
}

/** One ordered collection: newest first for lists, by id for lookups. */
export class Collection<T extends { id: string }> {
  private readonly byId = new Map<string, T>();
  private readonly order: T[] = [];

  add(item: T): T {
    this.byId.set(item.id, item);
    this.order.push(item);
    return item;
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  /** Stripe-style page, newest first; a cursor from another world is simply unknown. */
  page(
    options: { limit: number; startingAfter?: string; endingBefore?: string },
    filter: (item: T) => boolean = () => true,
  ): { data: T[]; hasMore: boolean } | undefined {
    const newestFirst = this.order.filter(filter).reverse();
    if (options.endingBefore !== undefined) {
      const at = newestFirst.findIndex((p) => p.id === options.endingBefore);
      if (at < 0) return undefined;
      const start = Math.max(0, at - options.limit);
      return { data: newestFirst.slice(start, at), hasMore: start > 0 };
    }
    let start = 0;
    if (options.startingAfter !== undefined) {
      const at = newestFirst.findIndex((p) => p.id === options.startingAfter);
      if (at < 0) return undefined;
      start = at + 1;
    }
    const data = newestFirst.slice(start, start + options.limit);
    return { data, hasMore: start + options.limit < newestFirst.length };
  }
}

/** The data of one (account, mode): another account's ids are simply not here. */
export interface World {
  payments: Collection<Payment>;
  refunds: Collection<Refund>;
  customers: Collection<Customer>;
}

export class Ledger {
  private readonly worlds = new Map<string, World>();

  world(account: string, mode: string): World {
    const key = `${account}\u0000${mode}`;
    let world = this.worlds.get(key);
    if (!world) {
      world = { payments: new Collection(), refunds: new Collection(), customers: new Collection() };
      this.worlds.set(key, world);
    }
    return world;
  }
}

/** `pi_` + 24 random base62-ish characters; unguessable, so ids say nothing about volume. */
export function newObjectId(prefix: 'pi' | 're' | 'cus'): string {
  return `${prefix}_${randomBytes(18).toString('base64url').replace(/[-_]/g, '0')}`;
}
