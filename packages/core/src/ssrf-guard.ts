import { lookup as dnsLookup } from 'node:dns/promises';
import { GatehouseError } from '@gatehouse/contract';
import { compileAllowlist, formatIp, type IpAddress, parseCidr, parseIp } from './cidr.js';

// Webhook URLs are written by customers, so Gatehouse must never be tricked into calling its
// own network: loopback, private ranges, link-local, cloud metadata, or any of those hidden in
// an IPv6 form (mapped, compatible, NAT64, 6to4). The check runs on every address a name
// resolves to, and the caller connects to the address that was checked, so a DNS answer that
// changes between check and connect (rebinding) cannot slip through.

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'metadata'
  | 'unspecified'
  | 'reserved'
  | 'documentation';

interface Range {
  readonly net: number; // IPv4 network as an unsigned 32-bit number
  readonly prefix: number;
  readonly cls: AddressClass;
}

// First match wins, so the metadata hosts come before the ranges that hold them.
const V4_RANGES: readonly Range[] = [
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, OpenStack, Oracle
  ['169.254.170.2/32', 'metadata'], // AWS ECS task metadata
  ['169.254.170.23/32', 'metadata'], // AWS EKS pod identity
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud
  ['0.0.0.0/32', 'unspecified'],
  ['0.0.0.0/8', 'reserved'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'], // includes 255.255.255.255
].map(([text, cls]) => {
  const c = parseCidr(text as string)!;
  return { net: v4Number(c.bytes, 0), prefix: c.prefix, cls: cls as AddressClass };
});

const METADATA_V6 = ['fd00:ec2::254', 'fd00:ec2::23'].map((t) => parseIp(t)!.bytes);

/**
 * What kind of address `ip` is (text or parsed). IPv6 forms that carry an IPv4 address
 * (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) take the class of the
 * IPv4 address inside. Throws a TypeError for text that is not an address.
 */
export function classifyAddress(ip: string | IpAddress): AddressClass {
  const parsed = typeof ip === 'string' ? parseIp(ip) : ip;
  if (parsed === null) throw new TypeError('not an IP address');
  const b = parsed.bytes;
  if (parsed.family === 4) return classifyV4(v4Number(b, 0));

  for (const m of METADATA_V6) if (equalBytes(b, m)) return 'metadata';
  if (zeroUpTo(b, 16)) return 'unspecified';
  if (zeroUpTo(b, 15) && b[15] === 1) return 'loopback';
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
  if (zeroUpTo(b, 10) && ((b[10] === 0xff && b[11] === 0xff) || (b[10] === 0 && b[11] === 0)))
    return classifyV4(v4Number(b, 12));
  // 64:ff9b::/96, NAT64 well-known prefix: a gateway would connect to the IPv4 inside
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeroFrom(b, 4, 12))
    return classifyV4(v4Number(b, 12));
  // 64:ff9b:1::/48, local-use NAT64 (RFC 8215)
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0 && b[5] === 1)
    return 'private';
  // 2002::/16, 6to4: the IPv4 of the relay sits in bytes 2–5
  if (b[0] === 0x20 && b[1] === 0x02) return classifyV4(v4Number(b, 2));
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'documentation'; // 2001:db8::/32
  if (b[0] === 0x3f && b[1] === 0xff && (b[2]! & 0xf0) === 0) return 'documentation'; // 3fff::/20
  if (b[0] === 0x20 && b[1] === 0x01 && (b[2]! & 0xfe) === 0) return 'reserved'; // 2001::/23, incl. Teredo
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link_local'; // fe80::/10
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'private'; // fec0::/10, site-local (deprecated)
  if ((b[0]! & 0xfe) === 0xfc) return 'private'; // fc00::/7, unique local
  if (b[0] === 0x01 && b[1] === 0 && zeroFrom(b, 2, 8)) return 'reserved'; // 100::/64, discard
  if (b[0] === 0x5f && b[1] === 0) return 'reserved'; // 5f00::/16, SRv6 SIDs
  if ((b[0]! & 0xe0) !== 0x20) return 'reserved'; // outside 2000::/3, the global unicast space
  return 'public';
}

export type WebhookUrlReason =
  | 'malformed'
  | 'scheme'
  | 'credentials'
  | 'https_required'
  | 'port'
  | 'forbidden_address'
  | 'unresolvable'
  | 'lookup_timeout';

/**
 * A webhook URL that Gatehouse will not call. `code` is `webhook_url_invalid` (cannot be a
 * webhook URL) or `webhook_url_forbidden` (points somewhere Gatehouse does not deliver to);
 * `reason` is a fixed word for logs; the message names at most the host, never the path,
 * query, credentials or a resolved address.
 */
export class WebhookUrlError extends GatehouseError {
  readonly reason: WebhookUrlReason;
  readonly host: string | null;

  constructor(
    code: 'webhook_url_invalid' | 'webhook_url_forbidden',
    reason: WebhookUrlReason,
    host: string | null,
  ) {
    super(code, {
      param: 'url',
      detail:
        host === null ? `webhook URL refused (${reason})` : `webhook URL to ${host} refused (${reason})`,
    });
    this.name = 'WebhookUrlError';
    this.reason = reason;
    this.host = host;
  }
}

export type WebhookMode = 'test' | 'live';

export interface WebhookUrlOptions {
  mode: WebhookMode;
  /**
   * Hosts (`receiver.internal`), addresses (`127.0.0.1`) or CIDRs (`10.20.0.0/16`,
   * `fd12:3456::/48`) an operator lets test-mode endpoints reach although they are not public
   * (GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS). A cloud metadata address (`169.254.169.254`,
   * `fd00:ec2::254`, …) stays refused inside an allowed range: only an entry naming that exact
   * address (bare, `/32` or `/128`) lets it through. Ignored in live mode.
   */
  allowedPrivate?: readonly string[];
}

/** A webhook URL that passed the checks that need no DNS. */
export interface ParsedWebhookUrl {
  url: URL;
  /** the host name without brackets or a trailing dot, lower case (IDN in punycode) */
  hostname: string;
  /** the port to connect to (the scheme's default when the URL has none) */
  port: number;
  /** the address when the URL names one directly (any spelling: `0x7f000001`, `127.1`, …) */
  address: IpAddress | null;
}

const MAX_URL_LENGTH = 2048;

/**
 * Parses and checks a webhook URL: http(s) only (https only in live mode), no credentials, a
 * real port, and — when the host is an address in any spelling the WHATWG URL parser accepts
 * (hex, octal, a single integer, `127.1`, mapped IPv6) — a public address, unless allowed.
 * Throws WebhookUrlError.
 */
export function parseWebhookUrl(input: string, options: WebhookUrlOptions): ParsedWebhookUrl {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_URL_LENGTH)
    throw new WebhookUrlError('webhook_url_invalid', 'malformed', null);
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new WebhookUrlError('webhook_url_invalid', 'malformed', null);
  }
  const hostname = stripHost(url.hostname);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new WebhookUrlError('webhook_url_invalid', 'scheme', null);
  if (hostname === '') throw new WebhookUrlError('webhook_url_invalid', 'malformed', null);
  if (url.username !== '' || url.password !== '')
    throw new WebhookUrlError('webhook_url_invalid', 'credentials', hostname);
  if (options.mode === 'live' && url.protocol !== 'https:')
    throw new WebhookUrlError('webhook_url_invalid', 'https_required', hostname);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (port === 0) throw new WebhookUrlError('webhook_url_invalid', 'port', hostname);

  const address = parseIp(hostname);
  const allowed = allowance(options);
  if (address !== null) {
    if (!allowed.address(address, hostname))
      throw new WebhookUrlError('webhook_url_forbidden', 'forbidden_address', hostname);
  } else if ((hostname === 'localhost' || hostname.endsWith('.localhost')) && !allowed.host(hostname)) {
    // RFC 6761: these names are loopback whatever a resolver says
    throw new WebhookUrlError('webhook_url_forbidden', 'forbidden_address', hostname);
  }
  return { url, hostname, port, address };
}

/** One answer of `dns.lookup(name, { all: true })`. */
export interface LookupAddress {
  address: string;
  family: number;
}

/** `dns.promises.lookup(hostname, { all: true })`, or a test double. */
export type WebhookLookup = (hostname: string, options: { all: true }) => Promise<readonly LookupAddress[]>;

/** Where to deliver: connect to `address` (no second lookup) and send `url`'s host as Host/SNI. */
export interface WebhookTarget extends ParsedWebhookUrl {
  /** the checked address, canonical text (`203.0.113.7`, `2001:db8::1`) */
  connectAddress: string;
  family: 4 | 6;
}

/**
 * Checks a webhook URL and resolves its host with `lookup` (all addresses). Refuses when any
 * address is not public and not allowed, so a name with one public and one private answer is
 * refused too. Returns the first address, already checked: connect to it and nothing else.
 * With `lookupTimeoutMs`, a lookup that has not answered by then is given up (reason
 * `lookup_timeout`; a late answer is ignored). Throws WebhookUrlError.
 */
export async function resolveWebhookTarget(
  input: string,
  options: WebhookUrlOptions & { lookup?: WebhookLookup; lookupTimeoutMs?: number },
): Promise<WebhookTarget> {
  const parsed = parseWebhookUrl(input, options);
  if (parsed.address !== null) {
    return { ...parsed, connectAddress: formatIp(parsed.address), family: parsed.address.family };
  }
  let answers: readonly LookupAddress[];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const lookup = (options.lookup ?? systemLookup)(parsed.hostname, { all: true });
    answers =
      options.lookupTimeoutMs === undefined
        ? await lookup
        : await Promise.race([
            lookup,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(LOOKUP_TIMED_OUT), options.lookupTimeoutMs);
              timer.unref?.();
            }),
          ]);
  } catch (err) {
    const reason = err === LOOKUP_TIMED_OUT ? 'lookup_timeout' : 'unresolvable';
    throw new WebhookUrlError('webhook_url_invalid', reason, parsed.hostname);
  } finally {
    clearTimeout(timer);
  }
  if (!Array.isArray(answers) || answers.length === 0)
    throw new WebhookUrlError('webhook_url_invalid', 'unresolvable', parsed.hostname);
  const allowed = allowance(options);
  let first: IpAddress | null = null;
  for (const answer of answers) {
    const ip = typeof answer?.address === 'string' ? parseIp(answer.address) : null;
    // an answer we cannot read (a zone id, garbage) is refused, never skipped
    if (ip === null || !allowed.address(ip, parsed.hostname))
      throw new WebhookUrlError('webhook_url_forbidden', 'forbidden_address', parsed.hostname);
    first ??= ip;
  }
  return { ...parsed, connectAddress: formatIp(first!), family: first!.family };
}

const LOOKUP_TIMED_OUT = Symbol('lookup timed out');

const systemLookup: WebhookLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

interface Allowance {
  host(hostname: string): boolean;
  address(ip: IpAddress, hostname: string): boolean;
}

/**
 * Each allow list compiled once (the dispatcher checks every endpoint's address again before
 * its attempts, with the same configured list each time). The list is read as it is on first
 * use: a caller that changes its entries must pass a new array.
 */
const compiledAllowances = new WeakMap<readonly string[], Allowance>();
const NOTHING_ALLOWED = compileAllowance([]);

function allowance(options: WebhookUrlOptions): Allowance {
  const entries = options.allowedPrivate;
  if (options.mode !== 'test' || entries === undefined || entries.length === 0) return NOTHING_ALLOWED;
  let compiled = compiledAllowances.get(entries);
  if (compiled === undefined) {
    compiled = compileAllowance(entries);
    compiledAllowances.set(entries, compiled);
  }
  return compiled;
}

function compileAllowance(entries: readonly string[]): Allowance {
  const cidrs: string[] = [];
  const exact: string[] = [];
  const hosts = new Set<string>();
  for (const entry of entries) {
    const e = entry.trim();
    if (e === '') continue;
    const cidr = parseCidr(e);
    if (cidr === null) hosts.add(stripHost(e.toLowerCase()));
    else {
      cidrs.push(e);
      if (cidr.prefix === (cidr.family === 4 ? 32 : 128)) exact.push(e);
    }
  }
  const inCidr = compileAllowlist(cidrs);
  const isExact = compileAllowlist(exact);
  return {
    host: (hostname) => hosts.has(hostname),
    address: (ip, hostname) => {
      const cls = classifyAddress(ip);
      if (cls === 'public') return true;
      // a range allowed for private receivers (169.254.0.0/16, fd00::/8) must not open the
      // metadata service inside it to every name: that takes an entry for the address itself
      if (cls === 'metadata') return isExact(formatIp(ip));
      if (inCidr(formatIp(ip))) return true;
      // a host allowed by name may resolve to private addresses, but never to addresses no TCP
      // connection should go to: those need an explicit CIDR
      return hosts.has(hostname) && cls !== 'unspecified' && cls !== 'multicast';
    },
  };
}

function stripHost(host: string): string {
  let h = host;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function classifyV4(n: number): AddressClass {
  for (const r of V4_RANGES) {
    const mask = r.prefix === 0 ? 0 : (0xffffffff << (32 - r.prefix)) >>> 0;
    if ((n & mask) >>> 0 === r.net) return r.cls;
  }
  return 'public';
}

function v4Number(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function zeroUpTo(b: Uint8Array, end: number): boolean {
  return zeroFrom(b, 0, end);
}

function zeroFrom(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] !== 0) return false;
  return true;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
