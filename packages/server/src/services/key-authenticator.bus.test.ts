import { createKv } from '@gatehouse/kv';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../runtime.js';
import { cliCaller, createHarness, type Harness } from '../test-kit/harness.js';
import type { InvalidationBus } from './key-authenticator.js';

/** An in-process stand-in for PostgreSQL LISTEN/NOTIFY shared by several runtimes. */
class FakeBus implements InvalidationBus {
  live = true;
  /** publishes that fail before one goes through */
  failing = 0;
  published = 0;
  private readonly subs = new Map<string, Set<{ handler: (m: string) => void; onResync?: () => void }>>();

  async publish(channel: string, message: string): Promise<void> {
    if (this.failing > 0) {
      this.failing--;
      throw new Error('bus unreachable');
    }
    this.published++;
    for (const sub of this.subs.get(channel) ?? []) sub.handler(message);
  }

  async subscribe(channel: string, handler: (m: string) => void, onResync?: () => void) {
    const sub = { handler, ...(onResync ? { onResync } : {}) };
    const set = this.subs.get(channel) ?? new Set();
    this.subs.set(channel, set);
    set.add(sub);
    return async () => void set.delete(sub);
  }

  /** what a reconnect does */
  resync(): void {
    for (const set of this.subs.values()) for (const sub of set) sub.onResync?.();
  }
}

let h: Harness;
const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close()));
  await h?.close();
});

/** Two runtimes (instances) over one store, each with its own in-memory kv, optionally sharing `bus`. */
async function twoInstances(bus?: FakeBus) {
  h = await createHarness();
  const instance = async () => {
    const runtime = await createRuntime({
      store: h.store,
      kv: await createKv({ now: h.clock.now }),
      keyring: h.runtime.keyring,
      clock: h.clock,
      ...(bus ? { invalidationBus: bus } : {}),
    });
    runtimes.push(runtime);
    return runtime;
  };
  const [a, b] = [await instance(), await instance()];
  const account = await a.accounts.create(cliCaller, { name: 'Acme' });
  const created = await a.keys.create(cliCaller, { type: 'secret', account: account.id, mode: 'test' });
  const secret = (created as unknown as { secret: string }).secret;
  h.secrets.push(secret);
  // both instances cache it
  await a.authenticator.authenticate(secret, null);
  await b.authenticator.authenticate(secret, null);
  const accepted = (r: Runtime) =>
    r.authenticator.authenticate(secret, null).then(
      () => true,
      () => false,
    );
  /** a change the other instance is not told about (as if its message were lost) */
  const silentlyRevoke = () => h.store.updateKey(created.id, { revokedAt: h.clock.now() });
  return { a, b, id: created.id, secret, accepted, silentlyRevoke };
}

describe('KeyAuthenticator over an invalidation bus (no Redis)', () => {
  it('drops a key revoked through another instance at once, which the in-memory kv alone cannot', async () => {
    const alone = await twoInstances();
    await alone.a.keys.revoke(cliCaller, alone.id, { reason: 'compromised' });
    expect(await alone.accepted(alone.a)).toBe(false);
    expect(await alone.accepted(alone.b)).toBe(true); // B still serves its cached copy
    await Promise.all(runtimes.splice(0).map((r) => r.close()));
    await h.close();

    const shared = await twoInstances(new FakeBus());
    await shared.a.keys.revoke(cliCaller, shared.id, { reason: 'compromised' });
    expect(await shared.accepted(shared.b)).toBe(false);
  });

  it('caches for the normal TTL with a live bus, and for one second while it is down', async () => {
    const bus = new FakeBus();
    const t = await twoInstances(bus);
    await t.silentlyRevoke();
    h.clock.advance(5_000);
    expect(await t.accepted(t.b)).toBe(true); // 30 s by default, not the 1 s of a lone instance
    bus.live = false;
    expect(await t.accepted(t.b)).toBe(false); // while down: anything older than 1 s is looked up again
  });

  /** The store's next key read stalls after it has read the row, until `release()`; later reads go through. */
  function stallNextRead() {
    const read = h.store.findKeyByHash.bind(h.store);
    let reads = 0;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reading: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      reading = resolve;
    });
    h.store.findKeyByHash = async (hash: string) => {
      reads++;
      const row = await read(hash);
      if (reads > 1) return row;
      reading();
      await held;
      return row;
    };
    return { started, release, reads: () => reads };
  }

  it('does not cache a row read while an invalidation of it came in (the read may predate the change)', async () => {
    const bus = new FakeBus();
    const t = await twoInstances(bus);
    h.clock.advance(31_000); // B's copy is old: its next check reads the store again
    const stall = stallNextRead(); // B reads the row, then stalls before it caches it
    const during = t.accepted(t.b);
    await stall.started;
    await t.a.keys.revoke(cliCaller, t.id, { reason: 'compromised' }); // B hears of it mid-read
    stall.release();
    expect(await during).toBe(true); // the request that raced the revocation
    expect(await t.accepted(t.b)).toBe(false); // but its stale row was not kept
  });

  it("caches a row read while another key's invalidation came in", async () => {
    const bus = new FakeBus();
    const t = await twoInstances(bus);
    const account = await t.a.accounts.create(cliCaller, { name: 'Other' });
    const other = await t.a.keys.create(cliCaller, { type: 'secret', account: account.id, mode: 'test' });
    h.clock.advance(31_000); // B's copy is old: its next check reads the store again
    const stall = stallNextRead();
    const during = t.accepted(t.b);
    await stall.started;
    await t.a.keys.revoke(cliCaller, other.id, { reason: 'compromised' }); // another key, mid-read
    stall.release();
    expect(await during).toBe(true);
    expect(await t.accepted(t.b)).toBe(true);
    expect(stall.reads()).toBe(1); // the second check was served from the cache
  });

  it('still revokes when the invalidation cannot be published, and publishes it again later', async () => {
    const bus = new FakeBus();
    const t = await twoInstances(bus);
    bus.failing = 1;
    const revoked = await t.a.keys.revoke(cliCaller, t.id, { reason: 'compromised' });
    expect(revoked.status).toBe('revoked');
    expect(await t.accepted(t.a)).toBe(false);
    const deadline = Date.now() + 3_000;
    while (bus.published === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(bus.published).toBe(1);
    expect(await t.accepted(t.b)).toBe(false);
  });

  it('drops every cached key when the bus resyncs after a reconnect', async () => {
    const bus = new FakeBus();
    const t = await twoInstances(bus);
    await t.silentlyRevoke();
    expect(await t.accepted(t.b)).toBe(true);
    bus.resync();
    expect(await t.accepted(t.b)).toBe(false);
  });
});
