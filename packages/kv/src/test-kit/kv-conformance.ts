import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kv, KvOptions, RateLimitWindow } from '../types.js';

/** What the conformance suite needs from an implementation under test. */
export interface KvHarness {
  /** Whether instances from open() share state, as Redis instances do. */
  readonly shared: boolean;
  /** An instance over this run's state, under this run's prefix unless one is given. */
  open(options?: Pick<KvOptions, 'prefix' | 'onError'>): Promise<Kv>;
  /** The clock windows and TTLs are measured on (the Redis server's, or the fake one). */
  now(): Promise<number>;
  /** Lets time pass: moves a fake clock, or waits for the real one. */
  elapse(ms: number): Promise<void>;
  /** Closes everything open() opened and deletes everything the run wrote. */
  dispose(): Promise<void>;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Collects the messages of a subscription and waits for them without sleeping blindly. */
export function inbox() {
  const messages: string[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  const handler = (message: string) => {
    messages.push(message);
    const due = waiters.filter((w) => messages.length >= w.count);
    waiters = waiters.filter((w) => messages.length < w.count);
    for (const w of due) w.resolve();
  };
  const received = (count: number, timeoutMs = 2_000) =>
    new Promise<string[]>((resolve, reject) => {
      if (messages.length >= count) return resolve(messages);
      const timer = setTimeout(
        () => reject(new Error(`got ${messages.length} of ${count} messages: ${messages.join(', ')}`)),
        timeoutMs,
      );
      waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(messages);
        },
      });
    });
  return { messages, handler, received };
}

/**
 * One behavioural contract for every Kv implementation; each implementation's test file
 * calls this with its harness. Tests use fresh keys, so nothing depends on test order.
 */
export function describeKvConformance(name: string, createHarness: () => Promise<KvHarness>): void {
  describe(`Kv conformance: ${name}`, () => {
    let h: KvHarness;
    let kv: Kv;

    beforeEach(async () => {
      h = await createHarness();
      kv = await h.open();
    });
    afterEach(async () => {
      await h.dispose();
    });

    /** a second instance: another connection where state is shared, else the same one */
    const peer = async () => (h.shared ? h.open() : kv);

    describe('get, set, del', () => {
      it('returns null for an absent key and the value after set', async () => {
        expect(await kv.get('absent')).toBeNull();
        expect(await kv.set('k', 'v1')).toBe(true);
        expect(await kv.get('k')).toBe('v1');
        expect(await kv.set('k', 'v2')).toBe(true);
        expect(await kv.get('k')).toBe('v2');
      });

      it('keeps values byte for byte, including empty and unicode strings', async () => {
        await kv.set('empty', '');
        await kv.set('text', 'zürich ✓ {"a":1}\n');
        expect(await kv.get('empty')).toBe('');
        expect(await kv.get('text')).toBe('zürich ✓ {"a":1}\n');
      });

      it('deletes a key, and deleting an absent key is not an error', async () => {
        await kv.set('k', 'v');
        await kv.del('k');
        expect(await kv.get('k')).toBeNull();
        await expect(kv.del('never-set')).resolves.toBeUndefined();
      });

      it('delIfEquals deletes only while the key holds exactly that value', async () => {
        await kv.set('owned', 'mine');
        expect(await kv.delIfEquals('owned', 'theirs')).toBe(false);
        expect(await kv.get('owned')).toBe('mine');
        expect(await kv.delIfEquals('owned', 'mine')).toBe(true);
        expect(await kv.get('owned')).toBeNull();
        expect(await kv.delIfEquals('owned', 'mine')).toBe(false);
        await kv.incr('counter', 7);
        expect(await kv.delIfEquals('counter', '7')).toBe(true);
      });

      it('replaceIfEquals replaces (and renews) only while the key holds exactly that value', async () => {
        await kv.set('lock', 'mine', { ttlMs: 1_000 });
        expect(await kv.replaceIfEquals('lock', 'theirs', 'x', 60_000)).toBe(false);
        expect(await kv.get('lock')).toBe('mine');
        expect(await kv.replaceIfEquals('lock', 'mine', 'mine', 60_000)).toBe(true);
        expect(await kv.ttl('lock')).toBeGreaterThan(30_000);
        expect(await kv.replaceIfEquals('lock', 'mine', 'done', 120_000)).toBe(true);
        expect(await kv.get('lock')).toBe('done');
        expect(await kv.ttl('lock')).toBeGreaterThan(60_000);
        expect(await kv.replaceIfEquals('absent', 'mine', 'x', 1_000)).toBe(false);
        expect(await kv.get('absent')).toBeNull();
      });

      it('set with nx writes only when the key is absent', async () => {
        expect(await kv.set('lock', 'first', { nx: true })).toBe(true);
        expect(await kv.set('lock', 'second', { nx: true })).toBe(false);
        expect(await kv.get('lock')).toBe('first');
        await kv.del('lock');
        expect(await kv.set('lock', 'third', { nx: true, ttlMs: 60_000 })).toBe(true);
        expect(await kv.get('lock')).toBe('third');
      });

      it('set with nx races: exactly one of many concurrent writers wins', async () => {
        const other = await peer();
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => (i % 2 ? kv : other).set('race', `w${i}`, { nx: true })),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await kv.get('race')).toBe(`w${results.indexOf(true)}`);
      });

      it('sees what another instance wrote when state is shared', async () => {
        const other = await peer();
        await other.set('from-peer', 'hello');
        expect(await kv.get('from-peer')).toBe('hello');
      });

      it('rejects a TTL that is not a positive integer', async () => {
        await expect(kv.set('k', 'v', { ttlMs: 0 })).rejects.toThrow(RangeError);
        await expect(kv.set('k', 'v', { ttlMs: -5 })).rejects.toThrow(RangeError);
        await expect(kv.set('k', 'v', { ttlMs: 1.5 })).rejects.toThrow(RangeError);
        expect(await kv.get('k')).toBeNull();
      });
    });

    describe('TTL', () => {
      it('reports -2 for an absent key, -1 without a TTL and the time left with one', async () => {
        expect(await kv.ttl('absent')).toBe(-2);
        await kv.set('forever', 'v');
        expect(await kv.ttl('forever')).toBe(-1);
        await kv.set('brief', 'v', { ttlMs: 10_000 });
        const left = await kv.ttl('brief');
        expect(left).toBeGreaterThan(9_000);
        expect(left).toBeLessThanOrEqual(10_000);
      });

      it('expires keys written with a TTL, by set and by incr', async () => {
        await kv.set('s', 'v', { ttlMs: 60 });
        await kv.incr('c', 1, 60);
        await kv.set('kept', 'v');
        expect(await kv.get('s')).toBe('v');
        expect(await kv.get('c')).toBe('1');
        await h.elapse(120);
        expect(await kv.get('s')).toBeNull();
        expect(await kv.get('c')).toBeNull();
        expect(await kv.ttl('s')).toBe(-2);
        expect(await kv.get('kept')).toBe('v');
      });

      it('a plain set replaces the TTL of an existing key', async () => {
        await kv.set('k', 'v', { ttlMs: 60 });
        await kv.set('k', 'w');
        expect(await kv.ttl('k')).toBe(-1);
        await h.elapse(120);
        expect(await kv.get('k')).toBe('w');
      });

      it('set with nx succeeds again once the key has expired', async () => {
        await kv.set('lock', 'a', { nx: true, ttlMs: 60 });
        expect(await kv.set('lock', 'b', { nx: true })).toBe(false);
        await h.elapse(120);
        expect(await kv.set('lock', 'c', { nx: true })).toBe(true);
        expect(await kv.get('lock')).toBe('c');
      });
    });

    describe('incr', () => {
      it('counts from zero by 1 or by the given amount, and stores a decimal string', async () => {
        expect(await kv.incr('n')).toBe(1);
        expect(await kv.incr('n')).toBe(2);
        expect(await kv.incr('n', 10)).toBe(12);
        expect(await kv.incr('n', -20)).toBe(-8);
        expect(await kv.get('n')).toBe('-8');
        await kv.set('m', '41');
        expect(await kv.incr('m')).toBe(42);
      });

      it('sets the TTL only when it creates the counter', async () => {
        await kv.incr('created', 1, 10_000);
        await kv.incr('created', 1, 60_000);
        const left = await kv.ttl('created');
        expect(left).toBeGreaterThan(0);
        expect(left).toBeLessThanOrEqual(10_000);

        await kv.incr('no-ttl');
        await kv.incr('no-ttl', 1, 60_000);
        expect(await kv.ttl('no-ttl')).toBe(-1);
        expect(await kv.get('no-ttl')).toBe('2');
      });

      it('is atomic under 200 concurrent calls', async () => {
        const other = await peer();
        const values = await Promise.all(
          Array.from({ length: 200 }, (_, i) => (i % 2 ? kv : other).incr('hits', 1, 60_000)),
        );
        expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        expect(await kv.get('hits')).toBe('200');
      });

      it('refuses to count a value that is not an integer, and leaves it alone', async () => {
        await kv.set('word', 'abc');
        await expect(kv.incr('word')).rejects.toThrow();
        await kv.set('fraction', '1.5');
        await expect(kv.incr('fraction')).rejects.toThrow();
        expect(await kv.get('word')).toBe('abc');
        expect(await kv.get('fraction')).toBe('1.5');
      });

      it('rejects a fractional increment or a bad TTL without creating the key', async () => {
        await expect(kv.incr('n', 1.5)).rejects.toThrow(RangeError);
        await expect(kv.incr('n', 1, 0)).rejects.toThrow(RangeError);
        expect(await kv.get('n')).toBeNull();
      });
    });

    describe('publish and subscribe', () => {
      it('delivers a message to a subscriber of another instance, in order', async () => {
        const publisher = await peer();
        const box = inbox();
        await kv.subscribe('events', box.handler);
        for (let i = 0; i < 20; i++) await publisher.publish('events', `m${i}`);
        expect(await box.received(20)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
      });

      it("delivers to the publishing instance's own subscribers", async () => {
        const box = inbox();
        await kv.subscribe('self', box.handler);
        await kv.publish('self', 'echo');
        expect(await box.received(1)).toEqual(['echo']);
      });

      it('delivers to every handler of a channel and only to that channel', async () => {
        const publisher = await peer();
        const a = inbox();
        const b = inbox();
        const elsewhere = inbox();
        await kv.subscribe('ch', a.handler);
        await kv.subscribe('ch', b.handler);
        await kv.subscribe('other', elsewhere.handler);
        await publisher.publish('ch', 'x');
        expect(await a.received(1)).toEqual(['x']);
        expect(await b.received(1)).toEqual(['x']);
        await publisher.publish('other', 'y');
        expect(await elsewhere.received(1)).toEqual(['y']);
      });

      it('unsubscribe removes only that handler, even when the same function is subscribed twice', async () => {
        const publisher = await peer();
        const twice = inbox();
        const witness = inbox();
        const first = await kv.subscribe('ch', twice.handler);
        await kv.subscribe('ch', twice.handler);
        await kv.subscribe('ch', witness.handler);
        await publisher.publish('ch', 'one');
        await witness.received(1);
        expect(twice.messages).toEqual(['one', 'one']);

        await first();
        await first(); // a second call is harmless
        await publisher.publish('ch', 'two');
        await witness.received(2);
        expect(twice.messages).toEqual(['one', 'one', 'two']);
      });

      it('stops delivering once every handler has unsubscribed, and can subscribe again', async () => {
        const publisher = await peer();
        const gone = inbox();
        const unsubscribe = await kv.subscribe('ch', gone.handler);
        await unsubscribe();
        // the witness listens on another instance so this one has no handlers left
        const watcher = await peer();
        const witness = inbox();
        const stopWatching = await watcher.subscribe('ch', witness.handler);
        await publisher.publish('ch', 'after');
        await witness.received(1);
        expect(gone.messages).toEqual([]);
        await stopWatching();

        const again = inbox();
        await kv.subscribe('ch', again.handler);
        await publisher.publish('ch', 'again');
        expect(await again.received(1)).toEqual(['again']);
        expect(gone.messages).toEqual([]);
      });

      it('a throwing handler is reported to onError and does not stop the others', async () => {
        const errors: Error[] = [];
        const kvWithErrors = await h.open({ onError: (error) => errors.push(error) });
        const box = inbox();
        await kvWithErrors.subscribe('ch', () => {
          throw new Error('handler broke');
        });
        await kvWithErrors.subscribe('ch', box.handler);
        await kvWithErrors.publish('ch', 'm');
        expect(await box.received(1)).toEqual(['m']);
        expect(errors.map((e) => e.message)).toEqual(['handler broke']);
      });
    });

    describe('prefix', () => {
      it('keeps keys and channels of different prefixes apart', async () => {
        const tenant = await h.open({ prefix: `gh_test_tenant_${randomSuffix()}:` });
        await kv.set('k', 'mine');
        await tenant.set('k', 'theirs');
        expect(await kv.get('k')).toBe('mine');
        expect(await tenant.get('k')).toBe('theirs');

        const mine = inbox();
        const theirs = inbox();
        await kv.subscribe('ch', mine.handler);
        await tenant.subscribe('ch', theirs.handler);
        await tenant.publish('ch', 'for-tenant');
        await kv.publish('ch', 'for-me');
        expect(await mine.received(1)).toEqual(['for-me']);
        expect(await theirs.received(1)).toEqual(['for-tenant']);
      });
    });

    describe('rateLimit', () => {
      const limits = (...windows: [number, number][]): RateLimitWindow[] =>
        windows.map(([limit, windowMs]) => ({ limit, windowMs }));

      it('admits exactly the limit under 200 concurrent calls', async () => {
        const results = await Promise.all(
          Array.from({ length: 200 }, () => kv.rateLimit('burst', limits([50, DAY]))),
        );
        const admitted = results.filter((r) => r.allowed);
        expect(admitted).toHaveLength(50);
        expect(admitted.map((r) => r.results[0]?.remaining).sort((a = 0, b = 0) => a - b)).toEqual(
          Array.from({ length: 50 }, (_, i) => i),
        );
        for (const refused of results.filter((r) => !r.allowed)) {
          expect(refused.results[0]?.remaining).toBe(0);
        }
      });

      it('admits exactly the limit across three instances sharing the state', async () => {
        const instances = h.shared ? [kv, await h.open(), await h.open()] : [kv];
        const perInstance = 300 / instances.length;
        const results = await Promise.all(
          instances.flatMap((instance) =>
            Array.from({ length: perInstance }, () => instance.rateLimit('fleet', limits([100, DAY]))),
          ),
        );
        expect(results.filter((r) => r.allowed)).toHaveLength(100);
      });

      it('counts down remaining and reports when the window resets, on the shared clock', async () => {
        const before = await h.now();
        const first = await kv.rateLimit('api', limits([5, HOUR], [100, DAY]));
        const after = await h.now();
        expect(first.allowed).toBe(true);
        const [hour, day] = first.results;
        expect(hour).toMatchObject({ limit: 5, windowMs: HOUR, remaining: 4 });
        expect(day).toMatchObject({ limit: 100, windowMs: DAY, remaining: 99 });
        // resetMs is the time to the end of the window on the shared clock; the call happened
        // somewhere between `before` and `after`.
        const untilReset = (t: number, windowMs: number) => (Math.floor(t / windowMs) + 1) * windowMs - t;
        for (const window of [hour, day]) {
          const windowMs = window?.windowMs ?? 0;
          expect(window?.resetMs).toBeGreaterThan(0);
          expect(window?.resetMs).toBeLessThanOrEqual(windowMs);
          if (Math.floor(before / windowMs) === Math.floor(after / windowMs)) {
            expect(window?.resetMs).toBeGreaterThanOrEqual(untilReset(after, windowMs));
            expect(window?.resetMs).toBeLessThanOrEqual(untilReset(before, windowMs));
          }
        }

        const remaining = [];
        for (let i = 0; i < 5; i++) {
          const r = await kv.rateLimit('api', limits([5, HOUR], [100, DAY]));
          remaining.push(r.allowed, r.results[0]?.remaining);
        }
        expect(remaining).toEqual([true, 3, true, 2, true, 1, true, 0, false, 0]);
      });

      it('keeps each window counter at <prefix><key>:<windowMs>:<windowIndex> with a TTL to the reset', async () => {
        const before = await h.now();
        const r = await kv.rateLimit('layout', limits([10, DAY]), 3);
        const after = await h.now();
        const candidates = new Set([Math.floor(before / DAY), Math.floor(after / DAY)]);
        const values = await Promise.all([...candidates].map((index) => kv.get(`layout:${DAY}:${index}`)));
        expect(values).toContain('3');
        const index = [...candidates][values.indexOf('3')];
        const left = await kv.ttl(`layout:${DAY}:${index}`);
        expect(left).toBeGreaterThan(0);
        expect(left).toBeLessThanOrEqual(r.results[0]?.resetMs ?? 0);
      });

      it('refuses when any window is exhausted and then consumes nothing in the others', async () => {
        const both = limits([2, HOUR], [10, DAY]);
        expect((await kv.rateLimit('multi', both)).allowed).toBe(true);
        expect((await kv.rateLimit('multi', both)).allowed).toBe(true);
        for (let i = 0; i < 3; i++) {
          const refused = await kv.rateLimit('multi', both);
          expect(refused.allowed).toBe(false);
          expect(refused.results.map((w) => w.remaining)).toEqual([0, 8]);
        }
        // the day window alone still has its 8: the refused calls took nothing from it
        const peek = await kv.rateLimit('multi', limits([10, DAY]), 0);
        expect(peek).toMatchObject({ allowed: true, results: [{ remaining: 8 }] });
      });

      it('takes the cost from every window, refuses a cost that does not fit, and peeks with cost 0', async () => {
        const windows = limits([10, HOUR], [20, DAY]);
        const spent = await kv.rateLimit('cost', windows, 7);
        expect(spent.allowed).toBe(true);
        expect(spent.results.map((w) => w.remaining)).toEqual([3, 13]);
        const tooMuch = await kv.rateLimit('cost', windows, 4);
        expect(tooMuch.allowed).toBe(false);
        expect(tooMuch.results.map((w) => w.remaining)).toEqual([3, 13]);
        const exact = await kv.rateLimit('cost', windows, 3);
        expect(exact.allowed).toBe(true);
        expect(exact.results.map((w) => w.remaining)).toEqual([0, 10]);
        const peek = await kv.rateLimit('cost', windows, 0);
        expect(peek.allowed).toBe(true);
        expect(peek.results.map((w) => w.remaining)).toEqual([0, 10]);
      });

      it('rateLimitAll counts a call in every key only when all of them allow it', async () => {
        const both = [
          { key: 'all-key', windows: limits([5, DAY]) },
          { key: 'all-account', windows: limits([2, HOUR]) },
        ];
        const answers = [];
        for (let i = 0; i < 5; i++) answers.push(await kv.rateLimitAll(both));
        expect(answers.map((a) => a.allowed)).toEqual([true, true, false, false, false]);
        const refused = answers[4]!;
        // the key's own windows allow it; the account's do not
        expect(refused.results.map((r) => r.allowed)).toEqual([true, false]);
        expect(refused.results.map((r) => r.results[0]?.remaining)).toEqual([3, 0]);
        // the refused calls took nothing from the key
        const peek = await kv.rateLimit('all-key', limits([5, DAY]), 0);
        expect(peek.results[0]?.remaining).toBe(3);
        await expect(
          kv.rateLimitAll([
            { key: 'twice', windows: limits([1, DAY]) },
            { key: 'twice', windows: limits([1, HOUR]) },
          ]),
        ).rejects.toThrow(RangeError);
        expect(await kv.rateLimitAll([])).toEqual({ allowed: true, results: [] });
      });

      it('rateLimitAll admits exactly the tighter limit across three instances, and counts only those in the other', async () => {
        const instances = h.shared ? [kv, await h.open(), await h.open()] : [kv];
        const perInstance = 300 / instances.length;
        const checks = [
          { key: 'fleet-key', windows: limits([1_000, DAY]) },
          { key: 'fleet-account', windows: limits([100, DAY]) },
        ];
        const results = await Promise.all(
          instances.flatMap((instance) =>
            Array.from({ length: perInstance }, () => instance.rateLimitAll(checks)),
          ),
        );
        expect(results.filter((r) => r.allowed)).toHaveLength(100);
        const key = await kv.rateLimit('fleet-key', limits([1_000, DAY]), 0);
        expect(key.results[0]?.remaining).toBe(900);
      });

      it('keeps keys apart and refuses everything with a limit of 0', async () => {
        await kv.rateLimit('a', limits([1, DAY]));
        expect((await kv.rateLimit('a', limits([1, DAY]))).allowed).toBe(false);
        expect((await kv.rateLimit('b', limits([1, DAY]))).allowed).toBe(true);
        expect(await kv.rateLimit('zero', limits([0, DAY]))).toMatchObject({
          allowed: false,
          results: [{ remaining: 0 }],
        });
      });

      it('admits again once the window has passed', async () => {
        const windowMs = 200;
        // Start early in a window so the refusal below happens in the same window.
        let key = 'reset';
        let first = await kv.rateLimit(key, limits([1, windowMs]));
        for (let attempt = 0; (first.results[0]?.resetMs ?? 0) < windowMs / 2 && attempt < 5; attempt++) {
          await h.elapse(first.results[0]?.resetMs ?? 0);
          key = `reset-${attempt}`;
          first = await kv.rateLimit(key, limits([1, windowMs]));
        }
        expect(first.allowed).toBe(true);
        const refused = await kv.rateLimit(key, limits([1, windowMs]));
        expect(refused.allowed).toBe(false);
        await h.elapse((refused.results[0]?.resetMs ?? 0) + 10);
        const again = await kv.rateLimit(key, limits([1, windowMs]));
        expect(again.allowed).toBe(true);
        expect(again.results[0]?.remaining).toBe(0);
      });

      it('admits anything when given no windows', async () => {
        expect(await kv.rateLimit('none', [])).toEqual({ allowed: true, results: [] });
      });

      it('rejects malformed windows and costs', async () => {
        await expect(kv.rateLimit('x', limits([1, 0]))).rejects.toThrow(RangeError);
        await expect(kv.rateLimit('x', limits([-1, 1000]))).rejects.toThrow(RangeError);
        await expect(kv.rateLimit('x', limits([1.5, 1000]))).rejects.toThrow(RangeError);
        await expect(kv.rateLimit('x', limits([1, 1000], [2, 1000]))).rejects.toThrow(RangeError);
        await expect(kv.rateLimit('x', limits([1, 1000]), -1)).rejects.toThrow(RangeError);
        await expect(kv.rateLimit('x', limits([1, 1000]), 0.5)).rejects.toThrow(RangeError);
      });
    });

    describe('close', () => {
      it('refuses commands after close, and closing twice is harmless', async () => {
        const instance = await h.open();
        await instance.set('k', 'v');
        await instance.close();
        await instance.close();
        await expect(instance.get('k')).rejects.toThrow();
        await expect(instance.rateLimit('k', [{ limit: 1, windowMs: 1000 }])).rejects.toThrow();
      });
    });
  });
}

function randomSuffix(): string {
  return Math.random().toString(16).slice(2, 10);
}
