import { randomBytes } from 'node:crypto';

/** Where behaviour depends on time, the time is injected: tests pass a fake clock. */
export interface Clock {
  /** Unix time in milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A source of random bytes; injected so tests can make ids and keys reproducible. */
export type RandomBytes = (n: number) => Buffer;

/** `crypto.randomBytes`: the only source that may make secrets in production. */
export const secureRandomBytes: RandomBytes = (n) => randomBytes(n);
