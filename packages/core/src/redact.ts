import { keyHint } from './api-key-format.js';
import { isBase62Code } from './base62.js';

export const REDACTED = '[REDACTED]';

// Each pattern is a literal prefix and then one character class: no nested quantifiers, so
// matching stays linear on any input. They run one after another, each over the previous
// result, and every replacement only removes text.
const KEY_PREFIX = /adm_|[srp]k_(?:test|live)_/g;
// `adm_` also starts ordinary identifiers; a real operator key has 38 characters after it.
const ADMIN_MIN_RUN = 12;
const WEBHOOK_SECRET = /whsec_[A-Za-z0-9+/=_-]+/g;
// Token characters of RFC 7235 token68; stops at quotes, so JSON log lines stay JSON.
const AUTHORIZATION = /\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]+=*/gi;
const QUERY_SECRET =
  /([?&;](?:access_token|refresh_token|id_token|token|api_key|apikey|key|secret|client_secret|password|signature|sig)=)[^&;#\s"'<>\\]+/gi;

/**
 * Masks everything in `text` that looks like a secret, valid checksum or not: Gatehouse
 * keys become their hint (`sk_live_…wxyz`), webhook secrets, `Bearer`/`Basic` credentials
 * and secret-named query parameters become `[REDACTED]`. Meant for whole log lines.
 */
export function redactSecrets(text: string): string {
  return redactKeys(
    text.replace(AUTHORIZATION, (_m, scheme: string, space: string) => `${scheme}${space}${REDACTED}`),
  )
    .replace(WEBHOOK_SECRET, `whsec_${REDACTED}`)
    .replace(QUERY_SECRET, (_m, name: string) => `${name}${REDACTED}`);
}

/**
 * The redacted start of a longer text, at most `maxBytes` of UTF-8. `text` is what was read:
 * read `maxBytes` plus KEY_MAX_LENGTH, so that a key straddling the limit is still whole when
 * it is redacted (cutting first would leave a head too short to look like a key). Unless
 * `whole` (the text is all there is), a key-shaped token at the end of `text` may itself be
 * cut, too short to be recognised: it is dropped, from its prefix on.
 */
export function redactExcerpt(text: string, maxBytes: number, whole: boolean): string {
  let read = text;
  if (!whole) {
    // a key is one run of [A-Za-z0-9_]; only the last run can be cut
    let start = read.length;
    while (start > 0 && isTokenCode(read.charCodeAt(start - 1))) start--;
    const search = new RegExp(KEY_PREFIX.source, 'g');
    search.lastIndex = start;
    let last = -1;
    for (let m = search.exec(read); m !== null; m = search.exec(read)) last = m.index;
    if (last !== -1) read = read.slice(0, last);
  }
  const redacted = redactSecrets(read);
  const bytes = utf8.encode(redacted);
  if (bytes.length <= maxBytes) return redacted;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // not inside a character
  return new TextDecoder().decode(bytes.subarray(0, end));
}

const utf8 = new TextEncoder();

function isTokenCode(c: number): boolean {
  return isBase62Code(c) || c === 95; // _
}

/**
 * Replaces each key-shaped run with its hint. A run stops where the next key prefix starts:
 * keys glued together (`…abcsk_live_…`) would otherwise let the first swallow the second's
 * `sk` and leave the second one's random part in the clear.
 */
function redactKeys(text: string): string {
  const starts: { at: number; body: number }[] = [];
  const search = new RegExp(KEY_PREFIX.source, 'g');
  for (let m = search.exec(text); m !== null; m = search.exec(text)) {
    starts.push({ at: m.index, body: m.index + m[0].length });
  }
  if (starts.length === 0) return text;
  let out = '';
  let copied = 0;
  starts.forEach(({ at, body }, i) => {
    const limit = starts[i + 1]?.at ?? text.length;
    let end = body;
    while (end < limit && isBase62Code(text.charCodeAt(end))) end++;
    const run = end - body;
    if (run === 0 || (text.startsWith('adm_', at) && run < ADMIN_MIN_RUN)) return;
    out += text.slice(copied, at) + keyHint(text.slice(at, end));
    copied = end;
  });
  return out + text.slice(copied);
}

/**
 * True for property names that carry credentials: authorization, password, secret, cookie,
 * credential, API or private key, and names ending in token, key or signature
 * (`x-api-key`, `access_token`, `secretKey`). `idempotency_key` is not a secret.
 */
export function isSensitiveName(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_.\s]/g, '');
  if (n === 'idempotencykey') return false;
  return (
    /authorization|password|passwd|passphrase|secret|cookie|credential|privatekey|apikey/.test(n) ||
    /(?:token|key|signature)$/.test(n)
  );
}

const MAX_DEPTH = 32;

/**
 * A deep copy of `value` safe to log: every string goes through `redactSecrets`, and the value
 * of every property with a sensitive name (see `isSensitiveName`) becomes `[REDACTED]`.
 * Errors keep name, message and stack (redacted); binary data is replaced; cycles become
 * `[Circular]` and nesting deeper than 32 becomes `[Truncated]`.
 */
export function redactObject(value: unknown): unknown {
  return copy(value, new Set(), 0);
}

function copy(value: unknown, ancestors: Set<object>, depth: number): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (value instanceof Date) return new Date(value.getTime());
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
  ancestors.add(value);
  try {
    const next = (v: unknown) => copy(v, ancestors, depth + 1);
    if (Array.isArray(value)) return value.map(next);
    if (value instanceof Map) {
      return new Map(
        [...value].map(([k, v]) => [
          k,
          typeof k === 'string' && isSensitiveName(k) && v != null ? REDACTED : next(v),
        ]),
      );
    }
    if (value instanceof Set) return new Set([...value].map(next));
    const out: Record<string, unknown> = {};
    const put = (k: string, v: unknown) =>
      // defineProperty: a `__proto__` key from parsed JSON must stay a plain property.
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    if (value instanceof Error) {
      put('name', value.name);
      put('message', redactSecrets(value.message));
      if (value.stack !== undefined) put('stack', redactSecrets(value.stack));
      if (value.cause !== undefined) put('cause', next(value.cause));
    }
    for (const [k, v] of Object.entries(value)) put(k, isSensitiveName(k) && v != null ? REDACTED : next(v));
    return out;
  } finally {
    ancestors.delete(value);
  }
}
