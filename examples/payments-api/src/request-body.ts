import type { Metadata } from './ledger.js';
import { PaymentsError } from './payments-error.js';

/** A JSON object body with only the named fields; anything else is refused, not ignored. */
export function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw PaymentsError.invalid('parameter_invalid', 'The request body must be a JSON object.');
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw PaymentsError.invalid('parameter_unknown', 'The request has an unknown parameter.', key);
    }
  }
  return body as Record<string, unknown>;
}

export function optionalString(value: unknown, param: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > max) {
    throw PaymentsError.invalid(
      'parameter_invalid',
      `${param} must be a string of at most ${max} characters.`,
      param,
    );
  }
  return value;
}

export function metadata(value: unknown): Metadata {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw PaymentsError.invalid('parameter_invalid', 'metadata must be an object of strings.', 'metadata');
  }
  const entries = Object.entries(value);
  if (entries.length > 50) {
    throw PaymentsError.invalid('parameter_invalid', 'metadata has at most 50 keys.', 'metadata');
  }
  const out: Metadata = {};
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 40 || typeof v !== 'string' || v.length > 500) {
      throw PaymentsError.invalid(
        'parameter_invalid',
        'metadata keys are 1–40 characters and values strings of at most 500.',
        `metadata[${k.slice(0, 40)}]`,
      );
    }
    out[k] = v;
  }
  return out;
}

export function listOptions(
  query: unknown,
  filters: readonly string[] = [],
): { limit: number; startingAfter?: string; endingBefore?: string } {
  const q = objectBody(query, ['limit', 'starting_after', 'ending_before', ...filters]);
  let limit = 10;
  if (q['limit'] !== undefined) {
    const n =
      typeof q['limit'] === 'string' && /^\d{1,3}$/.test(q['limit']) ? Number(q['limit']) : Number.NaN;
    if (!(n >= 1 && n <= 100)) {
      throw PaymentsError.invalid('parameter_invalid', 'limit must be an integer from 1 to 100.', 'limit');
    }
    limit = n;
  }
  const cursor = (name: string) => {
    const v = q[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length > 64) {
      throw PaymentsError.invalid('parameter_invalid', `${name} must be an object id.`, name);
    }
    return v;
  };
  const startingAfter = cursor('starting_after');
  const endingBefore = cursor('ending_before');
  if (startingAfter !== undefined && endingBefore !== undefined) {
    throw PaymentsError.invalid('parameter_invalid', 'Use starting_after or ending_before, not both.');
  }
  return {
    limit,
    ...(startingAfter !== undefined ? { startingAfter } : {}),
    ...(endingBefore !== undefined ? { endingBefore } : {}),
  };
}
