import { crc32 } from 'node:zlib';
import { type AnyKeyType, KEY_KIND_BY_TYPE, type KeyMode, type KeyType } from '@gatehouse/contract';
import { encodeBase62Fixed, isBase62Code, randomBase62 } from './base62.js';
import { type RandomBytes, secureRandomBytes } from './clock.js';

/** Random characters in a generated key: 32 × log2(62) ≈ 190.5 bits. */
export const KEY_RANDOM_LENGTH = 32;
/** The parser also accepts longer random parts, up to this, for keys minted by later versions. */
export const KEY_RANDOM_MAX_LENGTH = 64;
/** Base62 characters of CRC32 at the end of every key. */
export const KEY_CHECKSUM_LENGTH = 6;
/** Anything longer is refused before any other work. */
export const KEY_MAX_LENGTH = 128;

export interface ParsedApiKey {
  type: AnyKeyType;
  /** `null` for operator (`adm_`) keys, which belong to no mode. */
  mode: KeyMode | null;
  value: string;
}

export interface FoundApiKey extends ParsedApiKey {
  /** Offset of the key's first character in the searched text. */
  index: number;
}

function typeOfKind(kind: string): KeyType | null {
  switch (kind) {
    case 'sk':
      return 'secret';
    case 'rk':
      return 'restricted';
    case 'pk':
      return 'publishable';
    default:
      return null;
  }
}
const ADMIN_PREFIX = `${KEY_KIND_BY_TYPE.admin}_`;
const MIN_TAIL = KEY_RANDOM_LENGTH + KEY_CHECKSUM_LENGTH;
const MAX_TAIL = KEY_RANDOM_MAX_LENGTH + KEY_CHECKSUM_LENGTH;

/** The 6-character checksum of a key body (everything before the checksum): CRC32, base62, zero-padded. */
export function keyChecksum(body: string): string {
  return encodeBase62Fixed(crc32(body), KEY_CHECKSUM_LENGTH);
}

/** A new account key, `sk_live_<32 random><6 checksum>`. Shown once; only its hash is stored. */
export function generateApiKey(
  type: KeyType,
  mode: KeyMode,
  random: RandomBytes = secureRandomBytes,
): string {
  const kind = KEY_KIND_BY_TYPE[type];
  // Runtime checks too: a JavaScript caller or a bad row must not mint `undefined_…` keys.
  if (typeof kind !== 'string' || typeOfKind(kind) !== type) throw new TypeError('unknown key type');
  if (mode !== 'test' && mode !== 'live') throw new TypeError('unknown key mode');
  const body = `${kind}_${mode}_${randomBase62(KEY_RANDOM_LENGTH, random)}`;
  return body + keyChecksum(body);
}

/** A new operator key, `adm_<32 random><6 checksum>`. */
export function generateAdminKey(random: RandomBytes = secureRandomBytes): string {
  const body = `${ADMIN_PREFIX}${randomBase62(KEY_RANDOM_LENGTH, random)}`;
  return body + keyChecksum(body);
}

/**
 * Reads the prefix of a key-shaped string: its type, mode and where the random part starts.
 * Looks only at the first 8 characters.
 */
function readPrefix(
  text: string,
  at: number,
): { type: AnyKeyType; mode: KeyMode | null; start: number } | null {
  if (text.startsWith(ADMIN_PREFIX, at))
    return { type: 'admin', mode: null, start: at + ADMIN_PREFIX.length };
  if (text.charCodeAt(at + 2) !== 95 /* _ */ || text.charCodeAt(at + 7) !== 95) return null;
  const type = typeOfKind(text.slice(at, at + 2));
  if (type === null) return null;
  const mode = text.startsWith('test', at + 3) ? 'test' : text.startsWith('live', at + 3) ? 'live' : null;
  if (mode === null) return null;
  return { type, mode, start: at + 8 };
}

/**
 * Parses and checks a key without touching any store: null for anything malformed or with a
 * bad checksum. Linear in a length capped at 128 characters; never throws.
 */
export function parseApiKey(value: string): ParsedApiKey | null {
  if (typeof value !== 'string' || value.length > KEY_MAX_LENGTH) return null;
  const prefix = readPrefix(value, 0);
  if (prefix === null) return null;
  const tail = value.length - prefix.start;
  if (tail < MIN_TAIL || tail > MAX_TAIL) return null;
  for (let i = prefix.start; i < value.length; i++) if (!isBase62Code(value.charCodeAt(i))) return null;
  const split = value.length - KEY_CHECKSUM_LENGTH;
  if (keyChecksum(value.slice(0, split)) !== value.slice(split)) return null;
  return { type: prefix.type, mode: prefix.mode, value };
}

/**
 * A display hint that identifies a key without revealing it: `sk_live_…wxyz`, `adm_…wxyz`.
 * The last four characters are checksum, not random. Works on any key-shaped text (valid
 * checksum or not); text with no known prefix gets only the ellipsis and the last four.
 */
export function keyHint(value: string): string {
  const prefix = readPrefix(value, 0);
  const head = prefix === null ? '' : value.slice(0, prefix.start);
  const bodyLength = value.length - head.length;
  // A short tail would give away too much of itself; show nothing of it.
  const last = bodyLength >= 16 ? value.slice(-4) : '';
  return `${head}…${last}`;
}

// Literal prefixes only: the engine never backtracks, so scanning stays linear.
const PREFIX_SEARCH = /adm_|[srp]k_(?:test|live)_/g;

/**
 * Every Gatehouse key in arbitrary text (files, logs, git history) whose checksum is valid:
 * the checksum is what tells a real key from noise. A key glued to following letters or
 * digits is still found (each allowed length is tried, longest first).
 */
export function findApiKeysInText(text: string): FoundApiKey[] {
  const found: FoundApiKey[] = [];
  const search = new RegExp(PREFIX_SEARCH.source, 'g');
  for (let m = search.exec(text); m !== null; m = search.exec(text)) {
    const prefix = readPrefix(text, m.index);
    if (prefix === null) continue;
    let end = prefix.start;
    const limit = Math.min(text.length, prefix.start + MAX_TAIL);
    while (end < limit && isBase62Code(text.charCodeAt(end))) end++;
    for (let stop = end; stop - prefix.start >= MIN_TAIL; stop--) {
      const split = stop - KEY_CHECKSUM_LENGTH;
      if (keyChecksum(text.slice(m.index, split)) === text.slice(split, stop)) {
        found.push({
          value: text.slice(m.index, stop),
          index: m.index,
          type: prefix.type,
          mode: prefix.mode,
        });
        search.lastIndex = stop;
        break;
      }
    }
  }
  return found;
}
