import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryKv } from './memory-kv.js';
import type { RateLimitResult, RateLimitWindow } from './types.js';

type Command =
  | { kind: 'advance'; ms: number }
  | { kind: 'limit'; key: string; windows: RateLimitWindow[]; cost: number };

/**
 * The model keeps no counters at all: it logs every admitted call and, to answer a call,
 * sums the costs logged in the same key and window. Counters, expiry and the sweep in
 * MemoryKv must add up to the same answers.
 */
class RateLimitModel {
  readonly #admitted: { at: number; key: string; cost: number; windowMs: number[] }[] = [];

  rateLimit(now: number, key: string, windows: RateLimitWindow[], cost: number): RateLimitResult {
    const used = windows.map(({ windowMs }) =>
      this.#admitted
        .filter(
          (a) =>
            a.key === key &&
            a.windowMs.includes(windowMs) &&
            Math.floor(a.at / windowMs) === Math.floor(now / windowMs),
        )
        .reduce((sum, a) => sum + a.cost, 0),
    );
    const allowed = windows.every((w, i) => (used[i] ?? 0) + cost <= w.limit);
    if (allowed) this.#admitted.push({ at: now, key, cost, windowMs: windows.map((w) => w.windowMs) });
    return {
      allowed,
      results: windows.map(({ limit, windowMs }, i) => ({
        limit,
        windowMs,
        remaining: Math.max(0, limit - (used[i] ?? 0) - (allowed ? cost : 0)),
        resetMs: (Math.floor(now / windowMs) + 1) * windowMs - now,
      })),
    };
  }
}

const window = fc.record({
  limit: fc.integer({ min: 0, max: 6 }),
  windowMs: fc.constantFrom(1_000, 7_000, 60_000),
});

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
  fc.record({
    kind: fc.constant('limit' as const),
    key: fc.constantFrom('a', 'b'),
    windows: fc.uniqueArray(window, { selector: (w) => w.windowMs, minLength: 1, maxLength: 3 }),
    cost: fc.integer({ min: 0, max: 3 }),
  }),
);

describe('MemoryKv rateLimit against a model', () => {
  it('answers every call as the model does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2_000_000_000_000 }),
        fc.array(command, { maxLength: 60 }),
        async (start, commands) => {
          let now = start;
          const kv = new MemoryKv({ now: () => now, prefix: 'p:' });
          const model = new RateLimitModel();
          try {
            for (const c of commands) {
              if (c.kind === 'advance') {
                now += c.ms;
                continue;
              }
              const actual = await kv.rateLimit(c.key, c.windows, c.cost);
              expect(actual).toEqual(model.rateLimit(now, c.key, c.windows, c.cost));
            }
          } finally {
            await kv.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
