import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { type RandomBytes, secureRandomBytes } from './clock.js';

// Standard Webhooks (https://www.standardwebhooks.com/): the signed content is
// `{webhook-id}.{webhook-timestamp}.{body}`; `v1` is base64 HMAC-SHA256 under a `whsec_` secret,
// `v1a` base64 Ed25519 under a `whsk_` key (verified with its `whpk_` public key). The header
// carries several signatures, space-separated, while a secret is being rotated.

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
export const WEBHOOK_PUBLIC_KEY_PREFIX = 'whpk_';
export const WEBHOOK_SIGNING_KEY_PREFIX = 'whsk_';

/** Bytes of a secret we generate. */
const SECRET_BYTES = 32;
// The spec: "at least 24 bytes (192 bits, 512 maximum)". Secrets made elsewhere (Svix issues
// 24-byte ones) can be imported; anything outside the range is refused.
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const MAX_ID_LENGTH = 255;

// DER prefixes that wrap a raw Ed25519 seed (PKCS#8) or public key (SPKI), RFC 8410.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A new `whsec_<base64 of 32 random bytes>` secret. */
export function generateWebhookSecret(random: RandomBytes = secureRandomBytes): string {
  const bytes = random(SECRET_BYTES);
  if (bytes.length !== SECRET_BYTES) throw new Error('the random source returned the wrong length');
  return WEBHOOK_SECRET_PREFIX + bytes.toString('base64');
}

/**
 * The key bytes of a `whsec_…` secret (the prefix is optional). Throws a TypeError (that never
 * contains the secret) unless it is canonical base64 of 24 to 64 bytes.
 */
export function parseWebhookSecret(secret: string): Buffer {
  const text =
    typeof secret === 'string' && secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(6) : secret;
  const bytes = decodeBase64Strict(text);
  if (bytes === null) throw new TypeError('a webhook secret must be whsec_ followed by base64');
  if (bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES)
    throw new TypeError(`a webhook secret must hold ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`);
  return bytes;
}

/** An Ed25519 key pair in the Standard Webhooks text forms. */
export interface WebhookSigningKeyPair {
  /** `whpk_<base64 of the raw 32-byte public key>`: what the receiver verifies with */
  publicKey: string;
  /** `whsk_<base64 of the 32-byte seed>`: stays with the sender */
  privateKey: string;
}

/** A new Ed25519 key pair for `v1a` signatures (seed from `random`, crypto.randomBytes by default). */
export function generateWebhookSigningKeyPair(
  random: RandomBytes = secureRandomBytes,
): WebhookSigningKeyPair {
  const seed = random(32);
  if (seed.length !== 32) throw new Error('the random source returned the wrong length');
  const privateKey = privateKeyFromSeed(seed);
  return {
    publicKey: WEBHOOK_PUBLIC_KEY_PREFIX + rawPublicKey(createPublicKey(privateKey)).toString('base64'),
    privateKey: WEBHOOK_SIGNING_KEY_PREFIX + seed.toString('base64'),
  };
}

/**
 * The private key of a `whsk_…` text (prefix optional): base64 of the 32-byte seed, or of the
 * 64-byte seed-and-public-key form some libraries print (the public half must match).
 */
export function parseWebhookSigningKey(text: string): KeyObject {
  const body = typeof text === 'string' && text.startsWith(WEBHOOK_SIGNING_KEY_PREFIX) ? text.slice(5) : text;
  const bytes = decodeBase64Strict(body);
  if (bytes === null || (bytes.length !== 32 && bytes.length !== 64))
    throw new TypeError('a webhook signing key must be whsk_ followed by base64 of a 32-byte Ed25519 seed');
  const key = privateKeyFromSeed(bytes.subarray(0, 32));
  if (bytes.length === 64 && !rawPublicKey(createPublicKey(key)).equals(bytes.subarray(32)))
    throw new TypeError('the public half of this webhook signing key does not match its seed');
  return key;
}

/** The public key of a `whpk_…` text (prefix optional): base64 of the raw 32-byte key. */
export function parseWebhookPublicKey(text: string): KeyObject {
  const body = typeof text === 'string' && text.startsWith(WEBHOOK_PUBLIC_KEY_PREFIX) ? text.slice(5) : text;
  const bytes = decodeBase64Strict(body);
  if (bytes === null || bytes.length !== 32)
    throw new TypeError('a webhook public key must be whpk_ followed by base64 of 32 bytes');
  return ed25519PublicKeyFromRaw(bytes);
}

/** The `whpk_…` text of a signing key's public half. */
export function webhookPublicKeyOf(signingKey: KeyObject | string): string {
  const key = typeof signingKey === 'string' ? parseWebhookSigningKey(signingKey) : signingKey;
  return WEBHOOK_PUBLIC_KEY_PREFIX + rawPublicKey(createPublicKey(key)).toString('base64');
}

/** An Ed25519 public key from its raw 32 bytes. */
export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError('an Ed25519 public key has 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

export interface WebhookSignInput {
  /** `webhook-id`: stable across retries; visible ASCII without `.` or spaces */
  id: string;
  /** `webhook-timestamp`: Unix seconds of this attempt */
  timestamp: number;
  /** the exact bytes sent as the request body (a string is sent as UTF-8) */
  body: string | Uint8Array;
}

/**
 * The content both signature schemes sign: `{id}.{timestamp}.{body}` as bytes. Throws a
 * TypeError for an id that could make two different messages sign the same content (a `.`),
 * or that cannot travel in a header.
 */
export function webhookSignedContent(input: WebhookSignInput): Buffer {
  checkId(input.id);
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0)
    throw new TypeError('a webhook timestamp is a non-negative integer of Unix seconds');
  const prefix = Buffer.from(`${input.id}.${input.timestamp}.`, 'latin1');
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  return Buffer.concat([prefix, body]);
}

/** base64 HMAC-SHA256 of `content` under `key`: the part after `v1,`. */
export function webhookSignatureV1(key: Uint8Array | KeyObject, content: Uint8Array | string): string {
  return createHmac('sha256', key).update(content).digest('base64');
}

/** base64 Ed25519 signature of `content`: the part after `v1a,`. */
export function webhookSignatureV1a(privateKey: KeyObject, content: Uint8Array): string {
  return cryptoSign(null, content, privateKey).toString('base64');
}

/**
 * True when `signature` is a valid Ed25519 signature of `content` under `publicKey` (a key
 * object or the raw 32 bytes). Never throws for a malformed signature: that is just false.
 */
export function verifyWebhookSignatureV1a(
  publicKey: KeyObject | Uint8Array,
  content: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== 64) return false;
  const key = publicKey instanceof Uint8Array ? ed25519PublicKeyFromRaw(publicKey) : publicKey;
  try {
    return cryptoVerify(null, content, key, signature);
  } catch {
    return false;
  }
}

/**
 * The `webhook-signature` header value for HMAC secrets: `v1,<base64>` for each secret (the
 * current one first, then any still in their rotation grace period), space-separated.
 */
export function signWebhook(input: WebhookSignInput & { secrets: readonly Uint8Array[] }): string {
  if (input.secrets.length === 0) throw new TypeError('signWebhook needs at least one secret');
  const content = webhookSignedContent(input);
  return input.secrets
    .map((secret) => {
      if (secret.length === 0) throw new TypeError('a webhook secret cannot be empty');
      return `v1,${webhookSignatureV1(secret, content)}`;
    })
    .join(' ');
}

/**
 * The `webhook-signature` header value for Ed25519 keys: `v1a,<base64>` for each key (`whsk_…`
 * text or a private KeyObject), space-separated.
 */
export function signWebhookEd25519(
  input: WebhookSignInput & { privateKeys: readonly (KeyObject | string)[] },
): string {
  if (input.privateKeys.length === 0) throw new TypeError('signWebhookEd25519 needs at least one key');
  const content = webhookSignedContent(input);
  return input.privateKeys
    .map((k) => {
      const key = typeof k === 'string' ? parseWebhookSigningKey(k) : k;
      if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')
        throw new TypeError('a v1a signing key must be an Ed25519 private key');
      return `v1a,${webhookSignatureV1a(key, content)}`;
    })
    .join(' ');
}

/** The three Standard Webhooks headers of one delivery attempt. */
export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The headers of one attempt, signed with every HMAC secret and every Ed25519 key given (an
 * endpoint moving from one scheme to the other can carry both for a while).
 */
export function webhookHeaders(
  input: WebhookSignInput & {
    secrets?: readonly Uint8Array[];
    privateKeys?: readonly (KeyObject | string)[];
  },
): WebhookHeaders {
  const parts: string[] = [];
  const { secrets = [], privateKeys = [] } = input;
  if (secrets.length > 0) parts.push(signWebhook({ ...input, secrets }));
  if (privateKeys.length > 0) parts.push(signWebhookEd25519({ ...input, privateKeys }));
  if (parts.length === 0) throw new TypeError('webhookHeaders needs a secret or a signing key');
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': parts.join(' '),
  };
}

function checkId(id: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH)
    throw new TypeError(`a webhook id has 1 to ${MAX_ID_LENGTH} characters`);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    // visible ASCII only, and no `.`: the id is a header value and the first field of the content
    if (c <= 0x20 || c >= 0x7f || c === 0x2e)
      throw new TypeError('a webhook id is visible ASCII without "." or spaces');
  }
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

/** Canonical base64 (standard alphabet; padding optional), or null. */
function decodeBase64Strict(text: unknown): Buffer | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 200) return null;
  const bytes = Buffer.from(text, 'base64');
  const again = bytes.toString('base64');
  if (again === text || again.replace(/=+$/, '') === text) return bytes;
  return null;
}
