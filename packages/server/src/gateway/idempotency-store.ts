import { createHash, randomBytes } from 'node:crypto';
import type { Kv } from '@gatehouse/kv';
import type { IdempotencyTicket, StoredResponse } from './types.js';

interface Held {
  /** p: in flight; d: done */
  s: 'p' | 'd';
  /** the in-flight lock's own token: one request's release cannot free another's lock */
  t?: string;
  /** fingerprint of the request */
  f: string;
  /** the answer to replay; absent when it was done but could not be kept (too large, cut short) */
  r?: StoredResponse;
}

export type IdempotencyBegin =
  | { kind: 'proceed'; ticket: IdempotencyTicket }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_use' }
  | { kind: 'reused' }
  | { kind: 'unreplayable' };

/** `Idempotency-Key`: 1 to 255 printable ASCII characters. */
export function validIdempotencyKey(value: string): boolean {
  if (value.length === 0 || value.length > 255) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Idempotent requests in the shared kv, so a repeat is recognised by any instance. The first
 * request takes an in-flight lock (set-if-absent, outliving the upstream timeout); its answer
 * then replaces the lock for the retention time. Keys are scoped to account and mode and kept
 * as a SHA-256, so a client's key never becomes a kv key verbatim.
 */
export class IdempotencyStore {
  /** the renewal timers of the locks this process holds */
  private readonly renewals = new Map<IdempotencyTicket, NodeJS.Timeout>();

  constructor(
    private readonly kv: Kv,
    private readonly options: {
      ttlMs: number;
      lockTtlMs: number;
      /** how long a lock is renewed at most (default 1 h): a request that never ends lets go then */
      maxHoldMs?: number;
    },
  ) {}

  kvKey(accountId: string, mode: string, idempotencyKey: string): string {
    return `idem:${accountId}:${mode}:${createHash('sha256').update(idempotencyKey).digest('base64url')}`;
  }

  /**
   * SHA-256 over the method, the path with its query, the body's Content-Type (the same bytes
   * as JSON and as a form are different requests) and the body, as `2.<hash>.<earlier hash>`:
   * the earlier hash (without the type) is what versions before the type was added kept, so a
   * retry of a request they answered is still recognised while those answers live (24 h).
   */
  fingerprint(method: string, url: string, contentType: string | undefined, body: Buffer | string): string {
    const type = (contentType ?? '').trim().toLowerCase();
    return `2.${sha256Lines(method, url, type, body)}.${sha256Lines(method, url, body)}`;
  }

  async begin(kvKey: string, fingerprint: string): Promise<IdempotencyBegin> {
    const lock = JSON.stringify({
      s: 'p',
      f: fingerprint,
      t: randomBytes(12).toString('base64url'),
    } satisfies Held);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.kv.set(kvKey, lock, { ttlMs: this.options.lockTtlMs, nx: true })) {
        const ticket = { kvKey, fingerprint, lock };
        this.renew(ticket);
        return { kind: 'proceed', ticket };
      }
      const raw = await this.kv.get(kvKey);
      if (raw === null) continue; // released or expired in between: try to take it again
      let held: Held;
      try {
        held = JSON.parse(raw) as Held;
      } catch {
        return { kind: 'in_use' };
      }
      if (!sameRequest(held.f, fingerprint)) return { kind: 'reused' };
      if (held.s === 'd')
        return held.r !== undefined ? { kind: 'replay', response: held.r } : { kind: 'unreplayable' };
      return { kind: 'in_use' };
    }
    return { kind: 'in_use' };
  }

  /**
   * Keeps the answer for replay; `null` when the request was carried out but its answer cannot
   * be kept (larger than the cap, or cut short): a retry is then refused, never run again.
   */
  async complete(ticket: IdempotencyTicket, response: StoredResponse | null): Promise<void> {
    this.stopRenewing(ticket);
    const done = JSON.stringify(
      response === null ? { s: 'd', f: ticket.fingerprint } : { s: 'd', f: ticket.fingerprint, r: response },
    );
    const { kvKey } = ticket;
    const { ttlMs } = this.options;
    // over this request's own lock; if that is gone, only into an empty key: a retry that took
    // the key since is running, and its own answer is the one to keep
    if (await this.kv.replaceIfEquals(kvKey, ticket.lock, done, ttlMs)) return;
    await this.kv.set(kvKey, done, { ttlMs, nx: true });
  }

  /**
   * Lets a retry through again (the request never got a real answer). Only this request's own
   * lock is removed: if it ran out and a retry holds the key now, that lock stays.
   */
  async release(ticket: IdempotencyTicket): Promise<void> {
    this.stopRenewing(ticket);
    await this.kv.delIfEquals(ticket.kvKey, ticket.lock);
  }

  /**
   * Keeps the lock alive while its request runs (a slow answer streamed for longer than the
   * lock's TTL must not let a retry run the request a second time): renewed every third of its
   * TTL while it is still this request's, for at most `maxHoldMs`.
   */
  private renew(ticket: IdempotencyTicket): void {
    const { lockTtlMs } = this.options;
    const until = Date.now() + (this.options.maxHoldMs ?? 3_600_000);
    const timer = setInterval(
      () => {
        if (Date.now() > until) return this.stopRenewing(ticket);
        this.kv.replaceIfEquals(ticket.kvKey, ticket.lock, ticket.lock, lockTtlMs).then(
          (renewed) => {
            if (!renewed) this.stopRenewing(ticket); // run out or taken over: nothing left to keep
          },
          () => {}, // the kv is down: try again at the next tick
        );
      },
      Math.max(1, Math.floor(lockTtlMs / 3)),
    );
    timer.unref();
    this.renewals.set(ticket, timer);
  }

  private stopRenewing(ticket: IdempotencyTicket): void {
    clearInterval(this.renewals.get(ticket));
    this.renewals.delete(ticket);
  }
}

/** Whether a kept fingerprint is this request's (one kept by an earlier version has only its hash without the type). */
function sameRequest(kept: string, fingerprint: string): boolean {
  if (kept.startsWith('2.')) return kept === fingerprint;
  return kept === fingerprint.slice(fingerprint.lastIndexOf('.') + 1);
}

/** SHA-256 (base64url) of the parts joined by newlines. */
function sha256Lines(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) hash.update('\n');
    hash.update(parts[i] as string | Buffer);
  }
  return hash.digest('base64url');
}
