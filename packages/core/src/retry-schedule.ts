// When to try a webhook delivery again. Times are Unix milliseconds and randomness is a
// `() => number` in [0, 1) (Math.random's contract), both passed in so tests run the whole
// schedule in microseconds.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The delay before each retry: after the first attempt fails, 5 s; after the second, 5 min; …
 * Seven retries, eight attempts in all, spanning about 27.6 hours before jitter.
 */
export const WEBHOOK_RETRY_DELAYS_MS: readonly number[] = Object.freeze([
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  10 * HOUR,
]);

/** Each delay is stretched or shrunk by up to this fraction, so retries of many endpoints spread out. */
export const WEBHOOK_RETRY_JITTER = 0.2;

/** An endpoint that has failed without a single success for this long is disabled. */
export const WEBHOOK_DISABLE_AFTER_MS = 5 * DAY;

/**
 * When to make the next attempt after attempt number `attemptNumber` (1 = the first delivery)
 * failed at `now`: `now` plus the scheduled delay ±20 % (from `random`), in Unix ms; or null
 * when that was the last attempt. A receiver's `Retry-After` (ms) can push the time later,
 * never earlier; what it asks for counts up to the longest delay of the schedule.
 */
export function nextAttemptAt(
  attemptNumber: number,
  now: number,
  random: () => number,
  options: { retryAfterMs?: number } = {},
): number | null {
  if (!Number.isSafeInteger(attemptNumber) || attemptNumber < 1)
    throw new RangeError('attemptNumber counts from 1');
  const base = WEBHOOK_RETRY_DELAYS_MS[attemptNumber - 1];
  if (base === undefined) return null;
  const r = random();
  // a broken source must not produce a delay outside the band, or NaN
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0.5;
  let delay = Math.round(base * (1 + WEBHOOK_RETRY_JITTER * (2 * unit - 1)));
  const retryAfter = options.retryAfterMs;
  if (retryAfter !== undefined && Number.isFinite(retryAfter)) {
    // the cap bounds what the receiver may ask for, not our own jittered delay (up to 12 h)
    delay = Math.max(delay, Math.min(Math.round(retryAfter), maxDelay()));
  }
  return now + delay;
}

/** Why an endpoint should be disabled now, or null to keep delivering. */
export type WebhookDisableReason = 'gone' | 'failing';

/**
 * Whether to disable an endpoint: it answered 410 Gone (the receiver asks us to stop), or it
 * has failed every attempt since `failingSince` (Unix ms of the first failure after its last
 * success; null when the last attempt succeeded) for five days or more.
 */
export function webhookDisableReason(input: {
  failingSince: number | null;
  now: number;
  lastStatus?: number | null;
}): WebhookDisableReason | null {
  if (input.lastStatus === 410) return 'gone';
  if (input.failingSince !== null && input.now - input.failingSince >= WEBHOOK_DISABLE_AFTER_MS)
    return 'failing';
  return null;
}

function maxDelay(): number {
  return Math.max(...WEBHOOK_RETRY_DELAYS_MS);
}
