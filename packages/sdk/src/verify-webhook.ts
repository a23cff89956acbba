import { createHmac, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { HeadersLike } from './verify-gatehouse-request.js';
import type { WebhookDedupStore } from './webhook-dedup.js';
import { WebhookVerificationError } from './webhook-verification-error.js';

export interface VerifyWebhookInput {
  /** the raw request body, exactly as received: never a re-serialised JSON object */
  payload: string | Uint8Array;
  /** Node's `req.headers`, a Fetch `Headers`, or a plain record with names in any case */
  headers: HeadersLike;
  /**
   * `whsec_…` (HMAC, `v1`) or `whpk_…` (Ed25519 public key, `v1a`), or several while you rotate:
   * a delivery is accepted when any of its signatures matches any of them.
   */
  secret: string | readonly string[];
  /** how far `webhook-timestamp` may be from now, both ways; default 300 */
  toleranceSeconds?: number;
  /** now, in Unix seconds (for tests); default the system clock */
  now?: number;
  /** remembers accepted ids so a replay or redelivery is refused as `duplicate` */
  dedup?: WebhookDedupStore;
  /** how long an accepted id is remembered; default 3 days (the sender's retries span ~33 h) */
  dedupTtlSeconds?: number;
}

/** What the headers of a verified delivery say. */
export interface VerifiedWebhook {
  id: string;
  /** `webhook-timestamp`, Unix seconds */
  timestamp: number;
}

const DEFAULT_DEDUP_TTL = 3 * 24 * 3600;

/**
 * Verifies a Standard Webhooks delivery (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`; the `svix-` names are read too) and returns the parsed JSON body.
 * Throws `WebhookVerificationError` with `.code` `missing_header`, `invalid_signature`,
 * `timestamp_too_old`, `timestamp_too_new` or `duplicate`; a body that is not JSON throws
 * the SyntaxError of `JSON.parse` (after the signature was checked, before the id is claimed).
 *
 * The signature covers the id and the timestamp, so a captured delivery cannot be replayed
 * with a fresh timestamp; within the tolerance a replay is refused by `dedup`, if given.
 */
export function verifyWebhook<T = unknown>(input: VerifyWebhookInput): Promise<T> {
  let id: string;
  let event: T;
  try {
    id = verifyWebhookSignature(input).id;
    const payload = input.payload;
    const text =
      typeof payload === 'string'
        ? payload
        : (Buffer.isBuffer(payload)
            ? payload
            : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
          ).toString('utf8');
    event = (text === '' ? undefined : JSON.parse(text)) as T;
  } catch (err) {
    return Promise.reject(err);
  }
  const dedup = input.dedup;
  // without a store no await is needed: a plain resolved promise is cheaper than an async function
  if (dedup === undefined) return Promise.resolve(event);
  const tolerance = input.toleranceSeconds ?? 300;
  let ttl: number;
  try {
    ttl = Math.max(seconds(input.dedupTtlSeconds ?? DEFAULT_DEDUP_TTL, 'dedupTtlSeconds'), 2 * tolerance);
  } catch (err) {
    return Promise.reject(err);
  }
  return dedup.claim(id, ttl).then((first) => {
    if (!first) throw new WebhookVerificationError('duplicate');
    return event;
  });
}

/**
 * The signature and timestamp checks of `verifyWebhook`, synchronous, without parsing the
 * body or deduplicating. Returns the id and timestamp; throws `WebhookVerificationError`.
 */
export function verifyWebhookSignature(
  input: Omit<VerifyWebhookInput, 'dedup' | 'dedupTtlSeconds'>,
): VerifiedWebhook {
  const headers = input.headers;
  const fetchLike = typeof (headers as { get?: unknown }).get === 'function';
  const id = header(headers, fetchLike, 'webhook-id', 'svix-id');
  const timestampText = header(headers, fetchLike, 'webhook-timestamp', 'svix-timestamp');
  const signatures = header(headers, fetchLike, 'webhook-signature', 'svix-signature');
  if (id === undefined || timestampText === undefined || signatures === undefined)
    throw new WebhookVerificationError('missing_header');
  // The id is signed as bytes: a character beyond one byte would sign like another id and pass
  // the dedup store as a new one. Visible ASCII without ".", as the sender makes them.
  if (!validId(id)) throw new WebhookVerificationError('invalid_signature');

  const timestamp = parseTimestamp(timestampText);
  if (timestamp < 0) throw new WebhookVerificationError('invalid_signature');
  const tolerance = seconds(input.toleranceSeconds ?? 300, 'toleranceSeconds');
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (timestamp < now - tolerance) throw new WebhookVerificationError('timestamp_too_old');
  if (timestamp > now + tolerance) throw new WebhookVerificationError('timestamp_too_new');

  // The candidate signatures, decoded once: v1 (HMAC, 32 bytes) and v1a (Ed25519, 64 bytes).
  const v1: string[] = [];
  const v1a: Buffer[] = [];
  if (signatures.indexOf(' ') === -1) addCandidate(signatures, v1, v1a);
  else for (const entry of signatures.split(' ')) addCandidate(entry, v1, v1a);
  if (v1.length === 0 && v1a.length === 0) throw new WebhookVerificationError('invalid_signature');

  const prefix = `${id}.${timestampText}.`;
  const payload = input.payload;
  let content: Buffer | undefined; // the whole signed content, built once, when needed
  let match = false;
  const secret = input.secret;
  const count = typeof secret === 'string' ? 1 : secret.length;
  for (let i = 0; i < count; i++) {
    const key = parseSecret(typeof secret === 'string' ? secret : (secret[i] as string));
    if (key.kind === 'hmac') {
      if (v1.length === 0) continue;
      let expected: string;
      if (typeof payload !== 'string' && payload.length > SINGLE_BUFFER_MAX) {
        // a large body: two updates cost less than copying it behind the prefix
        expected = createHmac('sha256', key.key).update(prefix, 'latin1').update(payload).digest('base64');
      } else {
        content ??= signedContent(prefix, payload);
        expected = createHmac('sha256', key.key).update(content).digest('base64');
      }
      // every candidate is compared, each in constant time, so timing says nothing about which matched
      for (const candidate of v1) if (constantTimeEqual44(candidate, expected)) match = true;
    } else {
      if (v1a.length === 0) continue;
      content ??= signedContent(prefix, payload);
      for (const candidate of v1a) if (verify(null, content, key.key, candidate)) match = true;
    }
  }
  if (!match) throw new WebhookVerificationError('invalid_signature');
  return { id, timestamp };
}

// Up to this size the prefix and the body are copied into one buffer and hashed in one update:
// each update crosses into native code, which costs more than copying a small body.
const SINGLE_BUFFER_MAX = 16 * 1024;

/** `{id}.{timestamp}.` and the body, as one buffer. */
function signedContent(prefix: string, payload: string | Uint8Array): Buffer {
  // header values are byte strings: latin1 gives back the bytes that were sent
  if (typeof payload === 'string') {
    const out = Buffer.allocUnsafe(prefix.length + Buffer.byteLength(payload, 'utf8'));
    out.write(prefix, 0, 'latin1');
    out.write(payload, prefix.length, 'utf8');
    return out;
  }
  const out = Buffer.allocUnsafe(prefix.length + payload.length);
  // latin1 by hand: the prefix is a few dozen characters, and Buffer#write costs more than the loop
  for (let i = 0; i < prefix.length; i++) out[i] = prefix.charCodeAt(i) & 0xff;
  out.set(payload, prefix.length);
  return out;
}

/** Adds one `v1,<base64>` or `v1a,<base64>` entry to its list; anything else is skipped. */
function addCandidate(entry: string, v1: string[], v1a: Buffer[]): void {
  const comma = entry.indexOf(',');
  if (comma < 0) return;
  // a Fetch Headers joins repeated headers with ", ": drop that trailing comma
  const end = entry.charCodeAt(entry.length - 1) === 44 ? entry.length - 1 : entry.length;
  const length = end - comma - 1;
  if (comma === 2 && length === 44 && entry.startsWith('v1')) {
    // compared as canonical base64 text: the encoding of the expected MAC is unique, so this
    // accepts exactly the signatures a byte comparison would (Node and the spec's libraries
    // all emit padded standard base64), and skips a decode per candidate
    v1.push(entry.slice(comma + 1, end));
  } else if (comma === 3 && length === 88 && entry.startsWith('v1a')) {
    const bytes = Buffer.from(entry.slice(comma + 1, end), 'base64');
    if (bytes.length === 64) v1a.push(bytes);
  }
}

type ParsedSecret = { kind: 'hmac'; key: Buffer } | { kind: 'ed25519'; key: KeyObject };

// Decoding a secret (and building an Ed25519 key object) costs more than a 1 KiB HMAC, so the
// decoded forms of the few secrets a receiver uses are kept. Cleared when it grows, not LRU:
// a receiver has a handful of secrets, and a cache miss is only a little slower.
const secretCache = new Map<string, ParsedSecret>();
const SECRET_CACHE_MAX = 64;
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function parseSecret(secret: string): ParsedSecret {
  const cached = secretCache.get(secret);
  if (cached !== undefined) return cached;
  if (typeof secret !== 'string') throw new TypeError('a webhook secret must be a string');
  let parsed: ParsedSecret;
  if (secret.startsWith('whpk_')) {
    const raw = Buffer.from(secret.slice(5), 'base64');
    if (raw.length !== 32) throw new TypeError('a whpk_ key must hold 32 bytes of base64');
    parsed = {
      kind: 'ed25519',
      key: createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' }),
    };
  } else if (secret.startsWith('whsk_')) {
    throw new TypeError('a whsk_ key is the sender’s private key: verify with its whpk_ public key');
  } else {
    const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
    // the spec's minimum; shorter means a truncated or wrong value, never a real secret
    if (key.length < 24) throw new TypeError('a whsec_ secret must hold at least 24 bytes of base64');
    parsed = { kind: 'hmac', key };
  }
  if (secretCache.size >= SECRET_CACHE_MAX) secretCache.clear();
  secretCache.set(secret, parsed);
  return parsed;
}

/**
 * Compares two 44-character base64 MACs without an early exit: the time taken does not depend
 * on where they differ (the string form of crypto.timingSafeEqual).
 */
function constantTimeEqual44(a: string, b: string): boolean {
  if (a.length !== 44 || b.length !== 44) return false;
  let diff = 0;
  for (let i = 0; i < 44; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Digits only, at most 12 of them (year 33658); -1 otherwise. */
/** A setting in seconds: a finite number, 0 or more (a NaN would turn every check off). */
function seconds(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new TypeError(`${name} must be a finite number of seconds, 0 or more`);
  return value;
}

function validId(id: string): boolean {
  if (id.length > 256) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x2e) return false;
  }
  return true;
}

function parseTimestamp(text: string): number {
  if (text.length === 0 || text.length > 12) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function header(headers: HeadersLike, fetchLike: boolean, name: string, alias: string): string | undefined {
  if (fetchLike) {
    const h = headers as { get(name: string): string | null };
    const v = h.get(name) ?? h.get(alias);
    return v === null || v === '' ? undefined : v;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let value = record[name] ?? record[alias];
  if (value === undefined) {
    for (const key of Object.keys(record)) {
      const lower = key.toLowerCase();
      if (lower === name || lower === alias) {
        value = record[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  // Node gives an array for a repeated header: signatures join into one list; a repeated id or
  // timestamp joins into a value that cannot match any signature
  const text = typeof value === 'string' ? value : value.join(' ');
  return text === '' ? undefined : text;
}
