import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, it } from 'vitest';
import { RedisKv } from '../redis-kv.js';
import { toError } from '../to-error.js';
import type { Kv } from '../types.js';
import type { KvHarness } from './kv-conformance.js';

export const REDIS_TEST_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix of its own for every run, so runs sharing one Redis never see each other. */
export function testPrefix(): string {
  return `gh_test_${randomBytes(6).toString('hex')}:`;
}

/** Where the test Redis is, without any credentials the URL may hold. */
export function redisTestHost(): string {
  const url = new URL(REDIS_TEST_URL);
  return `${url.hostname}:${url.port || '6379'}`;
}

/**
 * Declares a describe block that needs the test Redis. When Redis does not answer, the
 * block is skipped with a warning, except under CI=true, where a failing test stands in for
 * it: CI must never pass without having run the Redis suites.
 */
export async function describeWithRedis(name: string, body: () => void): Promise<void> {
  const reason = await unreachableReason();
  if (reason === null) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('reaches the test Redis (required under CI=true)', () => {
        throw new Error(`cannot reach the test Redis at ${redisTestHost()}: ${reason}`);
      });
    });
  } else {
    console.warn(
      `[kv] skipping "${name}": Redis at ${redisTestHost()} is unreachable (${reason}). ` +
        'Start Redis or set GATEHOUSE_TEST_REDIS_URL; under CI=true this fails instead.',
    );
    describe.skip(name, body);
  }
}

async function unreachableReason(): Promise<string | null> {
  try {
    const kv = await RedisKv.connect({ url: REDIS_TEST_URL });
    await kv.close();
    return null;
  } catch (error) {
    return toError(error).message;
  }
}

/** A plain client for looking behind RedisKv's back (TIME, CLIENT LIST, PUBSUB) and cleaning up. */
export async function openAdmin(): Promise<Redis> {
  const admin = new Redis(REDIS_TEST_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  await admin.connect();
  return admin;
}

/** The Redis server's clock in ms, the clock rate-limit windows are aligned to. */
export async function serverNow(admin: Redis): Promise<number> {
  const [seconds, micros] = await admin.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Deletes every key under a prefix (SCAN, never KEYS, so a shared Redis is not blocked). */
export async function deleteKeys(admin: Redis, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    if (keys.length > 0) await admin.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export interface RedisHarness extends KvHarness {
  readonly prefix: string;
  readonly admin: Redis;
  /** Remembers a Kv opened by hand so dispose() closes it and deletes its keys. */
  track(kv: Kv, prefix?: string): void;
}

/** RedisKv instances on the test Redis under a fresh prefix; real time, real clock. */
export async function createRedisHarness(): Promise<RedisHarness> {
  const prefix = testPrefix();
  const admin = await openAdmin();
  const opened: Kv[] = [];
  const prefixes = new Set([prefix]);
  const track = (kv: Kv, kvPrefix = prefix) => {
    opened.push(kv);
    prefixes.add(kvPrefix);
  };
  return {
    shared: true,
    prefix,
    admin,
    track,
    async open(options = {}) {
      const kvPrefix = options.prefix ?? prefix;
      const kv = await RedisKv.connect({
        url: REDIS_TEST_URL,
        prefix: kvPrefix,
        ...(options.onError ? { onError: options.onError } : {}),
      });
      track(kv, kvPrefix);
      return kv;
    },
    now: () => serverNow(admin),
    elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    async dispose() {
      await Promise.all(opened.map((kv) => kv.close()));
      for (const p of prefixes) await deleteKeys(admin, p);
      await admin.quit();
    },
  };
}
