/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** A network: an address with its host bits zeroed, and a prefix length. */
export interface Cidr extends IpAddress {
  readonly prefix: number;
}

// The longest text worth looking at: a full IPv6 address with an embedded IPv4 and `/128`.
const MAX_TEXT = 64;

/**
 * Parses an IPv4 (`a.b.c.d`, decimal, no leading zeros, no shorthand like `127.1`) or IPv6
 * address (`::` compression, embedded IPv4 last; no brackets, no zone id). Null when invalid.
 */
export function parseIp(text: string): IpAddress | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) return null;
  if (text.includes(':')) {
    const bytes = new Uint8Array(16);
    return parseIpv6Into(text, bytes) ? { family: 6, bytes } : null;
  }
  const bytes = new Uint8Array(4);
  return parseIpv4Into(text, 0, text.length, bytes, 0) ? { family: 4, bytes } : null;
}

/**
 * Parses `address[/prefix]` (prefix defaults to the full length: a single address). Host bits
 * are zeroed, so `10.1.2.3/8` is the network `10.0.0.0/8`. Null when invalid.
 */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== 'string' || text.length > MAX_TEXT) return null;
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (digits.length === 0 || digits.length > 3 || (digits.length > 1 && digits[0] === '0')) return null;
    prefix = 0;
    for (let i = 0; i < digits.length; i++) {
      const c = digits.charCodeAt(i);
      if (c < 48 || c > 57) return null;
      prefix = prefix * 10 + (c - 48);
    }
    if (prefix > max) return null;
  }
  const bytes = ip.bytes;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    bytes[i] = bytes[i]! & ((0xff00 >> keep) & 0xff);
  }
  return { family: ip.family, bytes, prefix };
}

/** The canonical text of a CIDR (`10.0.0.0/8`, `2001:db8::/32`, always with a prefix), or null. */
export function normalizeCidr(text: string): string | null {
  const cidr = parseCidr(text);
  return cidr === null ? null : `${formatIp(cidr)}/${cidr.prefix}`;
}

/**
 * The canonical text of an address: dotted decimal, or RFC 5952 IPv6 (lower case, longest
 * zero run as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`).
 */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (isMapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * True when `ip` is inside any of `cidrs`. IPv4 and IPv4-mapped IPv6 (`::ffff:a.b.c.d`) are
 * one address: each matches ranges written either way. An invalid ip matches nothing; an
 * invalid range is skipped (never matches). Parses every range on each call: for a hot path
 * use `compileAllowlist`.
 */
export function ipMatchesAny(ip: string, cidrs: readonly string[]): boolean {
  return compileAllowlist(cidrs)(ip);
}

/**
 * Parses `cidrs` once and returns a matcher with the semantics of `ipMatchesAny`. An empty
 * list matches nothing: whether "no allowlist" means "allow all" is the caller's decision.
 */
export function compileAllowlist(cidrs: readonly string[]): (ip: string) => boolean {
  const networks: { words: Uint32Array; masks: Uint32Array }[] = [];
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (cidr === null) continue;
    const words = toWords(cidr);
    const masks = prefixMasks(cidr.family === 4 ? cidr.prefix + 96 : cidr.prefix);
    networks.push({ words, masks });
  }
  if (networks.length === 0) return () => false;
  return (text: string) => {
    const ip = parseIp(text);
    if (ip === null) return false;
    const w = toWords(ip);
    for (const { words, masks } of networks) {
      if (
        ((w[0]! ^ words[0]!) & masks[0]!) === 0 &&
        ((w[1]! ^ words[1]!) & masks[1]!) === 0 &&
        ((w[2]! ^ words[2]!) & masks[2]!) === 0 &&
        ((w[3]! ^ words[3]!) & masks[3]!) === 0
      ) {
        return true;
      }
    }
    return false;
  };
}

/** True for the bytes of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** An address as four 32-bit words of IPv6 space; IPv4 becomes its mapped form `::ffff:a.b.c.d`. */
function toWords(ip: IpAddress): Uint32Array {
  const b = ip.bytes;
  const words = new Uint32Array(4);
  if (ip.family === 4) {
    words[2] = 0xffff;
    words[3] = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    return words;
  }
  for (let i = 0; i < 4; i++) {
    words[i] = ((b[4 * i]! << 24) | (b[4 * i + 1]! << 16) | (b[4 * i + 2]! << 8) | b[4 * i + 3]!) >>> 0;
  }
  return words;
}

function prefixMasks(prefix: number): Uint32Array {
  const masks = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - 32 * i));
    masks[i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  }
  return masks;
}

/** Strict dotted decimal in text[start, end) into out[at..at+3]. */
function parseIpv4Into(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 46; // a virtual '.' closes the last part
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // leading zero: octal in some parsers
      value = value * 10 + (c - 48);
      digits++;
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** Colon-separated hex groups of text[start, end); an IPv4 tail (if allowed) counts as two groups. */
function parseGroups(text: string, start: number, end: number, allowIpv4: boolean): number[] | null {
  const groups: number[] = [];
  if (start === end) return groups;
  let from = start;
  for (let i = start; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== 58 /* : */) continue;
    const length = i - from;
    if (length === 0) return null;
    if (i === end && allowIpv4 && text.indexOf('.', from) !== -1 && text.indexOf('.', from) < end) {
      const v4 = new Uint8Array(4);
      if (!parseIpv4Into(text, from, end, v4, 0)) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      return groups;
    }
    if (length > 4) return null;
    let value = 0;
    for (let j = from; j < i; j++) {
      const c = text.charCodeAt(j);
      const digit =
        c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (digit === -1) return null;
      value = (value << 4) | digit;
    }
    groups.push(value);
    from = i + 1;
  }
  return groups;
}

function parseIpv6Into(text: string, out: Uint8Array): boolean {
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap === -1) {
    const all = parseGroups(text, 0, text.length, true);
    if (all === null || all.length !== 8) return false;
    groups = all;
  } else {
    if (text.indexOf('::', gap + 1) !== -1) return false; // a second `::`, or `:::`
    const head = parseGroups(text, 0, gap, false);
    const tail = parseGroups(text, gap + 2, text.length, true);
    if (head === null || tail === null || head.length + tail.length > 7) return false;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  return true;
}
