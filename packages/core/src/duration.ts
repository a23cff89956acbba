const SECONDS_PER_UNIT: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
};
const DURATION_PATTERN = /^([0-9]{1,12})([smhdw]?)$/;

/**
 * Seconds in a duration such as `45s`, `30m`, `24h`, `90d`, `2w`, or a plain number of
 * seconds. Throws RangeError for anything else, for zero, and for lengths past a safe integer.
 */
export function parseDuration(text: string): number {
  const match = typeof text === 'string' ? DURATION_PATTERN.exec(text.trim()) : null;
  if (match === null) {
    throw new RangeError(
      'a duration is a positive whole number with an optional unit s, m, h, d or w (e.g. 90d)',
    );
  }
  const seconds = Number(match[1]) * (SECONDS_PER_UNIT[match[2] || 's'] ?? 1);
  if (seconds <= 0) throw new RangeError('a duration must be longer than zero');
  if (!Number.isSafeInteger(seconds)) throw new RangeError('the duration is too long');
  return seconds;
}
