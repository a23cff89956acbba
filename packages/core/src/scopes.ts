import { SCOPE_PATTERN } from '@gatehouse/contract';

/**
 * True when the held scopes allow `required`: `*` allows everything, `res:*` allows
 * `res:read` and `res:write`, and `res:write` implies `res:read`. A malformed `required`
 * is allowed only by `*`; malformed held scopes allow nothing.
 */
export function scopeAllows(held: readonly string[], required: string): boolean {
  if (held.includes('*')) return true;
  const colon = required.indexOf(':');
  if (colon <= 0) return false;
  const resource = required.slice(0, colon);
  const action = required.slice(colon + 1);
  for (const scope of held) {
    if (scope === required || scope === `${resource}:*`) return true;
    if (action === 'read' && scope === `${resource}:write`) return true;
  }
  return false;
}

/** True when no scope grants more than reading (`res:read` only; an empty list is read-only too). */
export function isReadOnly(scopes: readonly string[]): boolean {
  return scopes.every((scope) => SCOPE_PATTERN.test(scope) && scope.endsWith(':read'));
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const VERSION_SEGMENT = /^v[0-9]+$/;

/**
 * The scope a proxied request needs by default: `GET /v1/payments/pi_1` → `payments:read`,
 * `POST /v1/payments` → `payments:write`. The resource is the first segment after the
 * version (lower case, anything but `[a-z0-9_]` as `_`).
 *
 * A path that an upstream might read as a different resource than we do (dot segments, also
 * as `..;` or percent-encoded, empty segments, encoded or back slashes, control characters,
 * bad percent-encoding) or that names no resource
 * needs `*`: refusing is safer than guessing which resource it reaches.
 */
export function requiredScopeFor(method: string, path: string): string {
  const end = path.search(/[?#]/);
  const raw = (end === -1 ? path : path.slice(0, end)).split('/');
  if (raw[0] !== '') return '*';
  const segments: string[] = [];
  for (let i = 1; i < raw.length; i++) {
    const segment = raw[i]!;
    // A trailing slash (`/v1/payments/`) is harmless; other empty segments are not.
    if (segment === '' && i === raw.length - 1 && i > 1) break;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return '*';
    }
    // `..;` is `..` to some servlet containers; control characters end paths in others.
    const bare = decoded.split(';')[0]!.trim();
    if (decoded === '' || bare === '.' || bare === '..' || /[/\\]/.test(decoded) || hasControl(decoded))
      return '*';
    segments.push(decoded);
  }
  const first = VERSION_SEGMENT.test(segments[0] ?? '') ? segments[1] : segments[0];
  if (first === undefined) return '*';
  const resource = first.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `${resource}:${READ_METHODS.has(method.toUpperCase()) ? 'read' : 'write'}`;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
