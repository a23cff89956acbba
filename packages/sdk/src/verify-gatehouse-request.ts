import { createHmac, timingSafeEqual } from 'node:crypto';
import { GatehouseSignatureError } from './gatehouse-signature-error.js';

/**
 * Any headers object a Node or Fetch server hands you: Node's `IncomingHttpHeaders`
 * (lower-case names, string or string[] values), a Fetch `Headers`, or a plain record with
 * names in any case.
 */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyGatehouseRequestInput {
  headers: HeadersLike;
  /** the request method as received (compared upper-case) */
  method: string;
  /** the path with its query string exactly as received, e.g. Node's `req.url` */
  path: string;
  /** the secret shared with Gatehouse (GATEHOUSE_UPSTREAM_SECRET) */
  secret: string;
  /** how far the signature timestamp may be from now, both ways; default 300 */
  toleranceSeconds?: number;
  /** now, in Unix seconds (for tests); default the system clock */
  now?: number;
}

/** Who Gatehouse says made the request, once the signature checks out. */
export interface GatehouseRequest {
  account: string;
  keyId: string;
  mode: 'test' | 'live';
  scopes: string[];
  requestId: string;
}

const SIGNED_HEADERS = [
  'gatehouse-account',
  'gatehouse-key-id',
  'gatehouse-mode',
  'gatehouse-scopes',
  'request-id',
] as const;

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let value = record[name];
  if (value === undefined) {
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === name) {
        value = record[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  // a repeated header is suspicious for these names; join it so it can never match a signature
  return typeof value === 'string' ? value : value.join(', ');
}

/** Parses `t=<seconds>,v1=<sig>[,v1=<sig>…]`; unknown entries are ignored (future versions). */
function parseSignatureHeader(value: string): { timestamp: number; signatures: Buffer[] } | null {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (name === 't') {
      if (!/^\d{1,12}$/.test(v)) return null;
      timestamp = Number(v);
    } else if (name === 'v1' && /^[A-Za-z0-9_-]{43}$/.test(v)) {
      signatures.push(Buffer.from(v, 'base64url'));
    }
  }
  if (timestamp === undefined) return null;
  return { timestamp, signatures };
}

/**
 * Checks that a request came through Gatehouse: the `Gatehouse-Signature` header must carry a
 * timestamp within `toleranceSeconds` of now (both ways) and an HMAC-SHA256, under `secret`,
 * of the timestamp, the method, the path with its query, and the Gatehouse-* identity headers.
 * Returns who made the request; throws `GatehouseSignatureError` otherwise.
 *
 * Several `v1=` entries may be present while the shared secret is rotated: any match is enough.
 */
export function verifyGatehouseRequest(input: VerifyGatehouseRequestInput): GatehouseRequest {
  const raw = header(input.headers, 'gatehouse-signature');
  if (raw === undefined || raw === '') throw new GatehouseSignatureError('missing_header');
  const values: string[] = [];
  for (const name of SIGNED_HEADERS) {
    const v = header(input.headers, name);
    if (v === undefined) throw new GatehouseSignatureError('missing_header');
    values.push(v);
  }
  const parsed = parseSignatureHeader(raw);
  if (parsed === null || parsed.signatures.length === 0)
    throw new GatehouseSignatureError('invalid_signature');

  const tolerance = input.toleranceSeconds ?? 300;
  const now = input.now ?? Math.floor(Date.now() / 1000);
  if (parsed.timestamp < now - tolerance) throw new GatehouseSignatureError('timestamp_too_old');
  if (parsed.timestamp > now + tolerance) throw new GatehouseSignatureError('timestamp_too_new');

  const signed = [String(parsed.timestamp), input.method.toUpperCase(), input.path, ...values].join('\n');
  const expected = createHmac('sha256', input.secret).update(signed, 'utf8').digest();
  let match = false;
  // every candidate is compared, so the time taken does not say which one matched
  for (const candidate of parsed.signatures) {
    if (timingSafeEqual(candidate, expected)) match = true;
  }
  if (!match) throw new GatehouseSignatureError('invalid_signature');

  const [account, keyId, mode, scopes, requestId] = values as [string, string, string, string, string];
  if (mode !== 'test' && mode !== 'live') throw new GatehouseSignatureError('invalid_signature');
  return {
    account,
    keyId,
    mode,
    scopes: scopes === '' ? [] : scopes.split(/[ ,]+/).filter(Boolean),
    requestId,
  };
}
