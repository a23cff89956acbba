import { GatehouseError } from '@gatehouse/contract';
import type { z } from 'zod';

const SAFE_PARAM = /^[A-Za-z0-9_.[\]]{1,64}$/;

/**
 * The parameter's name, e.g. `metadata.plan` or `scopes[0]`. A part that cannot be shown safely
 * (a metadata key the client chose, with control characters or too long) is left off, so the
 * enclosing parameter is named instead (`metadata`).
 */
function paramName(path: readonly PropertyKey[]): string | undefined {
  let out = '';
  for (const part of path) {
    const next =
      typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`;
    if (!SAFE_PARAM.test(next)) break;
    out = next;
  }
  return out === '' ? undefined : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Object.hasOwn(current, part) ? (current as Record<PropertyKey, unknown>)[part] : undefined;
  }
  return current;
}

/**
 * Validates input against a strict schema and maps the first problem to a stable error code
 * with the offending parameter's name. The submitted value is never echoed back.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new GatehouseError('parameter_invalid');
  if (issue.code === 'unrecognized_keys') {
    const param = paramName([...issue.path, issue.keys[0] ?? '']);
    throw new GatehouseError('parameter_unknown', {
      ...(param ? { param, message: `Received unknown parameter: ${param}.` } : {}),
    });
  }
  const param = paramName(issue.path);
  if (issue.code === 'invalid_type' && valueAt(value, issue.path) === undefined) {
    throw new GatehouseError('parameter_missing', {
      ...(param ? { param, message: `Missing required parameter: ${param}.` } : {}),
    });
  }
  throw new GatehouseError('parameter_invalid', {
    ...(param ? { param, message: `Invalid value for ${param}.` } : {}),
  });
}
