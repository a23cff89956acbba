import { createHmac, type KeyObject } from 'node:crypto';

/** What the gateway tells the upstream about a request, and signs. */
export interface UpstreamSignedFields {
  /** the request method; upper-cased before signing */
  method: string;
  /** the path with its query string, exactly as sent upstream */
  path: string;
  account: string;
  keyId: string;
  mode: string;
  /** the key's scopes; comma-joined in the header and the signing string */
  scopes: readonly string[] | string;
  requestId: string;
}

/**
 * The string the `Gatehouse-Signature` MAC covers: timestamp, method, path with query,
 * account, key id, mode, scopes (comma-joined) and request id, one per line. The timestamp is
 * inside the MAC, so a captured request cannot be replayed later with a fresh timestamp.
 */
export function upstreamSigningString(fields: UpstreamSignedFields, timestampSeconds: number): string {
  const scopes = typeof fields.scopes === 'string' ? fields.scopes : fields.scopes.join(',');
  return `${timestampSeconds}\n${fields.method.toUpperCase()}\n${fields.path}\n${fields.account}\n${fields.keyId}\n${fields.mode}\n${scopes}\n${fields.requestId}`;
}

/**
 * The `Gatehouse-Signature` header value: `t=<unix seconds>,v1=<base64url HMAC-SHA256>` with
 * the secret's UTF-8 bytes as the HMAC key. `@gatehouse/sdk`'s `verifyGatehouseRequest`
 * checks it on the upstream side. A caller that signs every request passes the secret as a
 * KeyObject made once from those bytes (`createSecretKey(Buffer.from(secret, 'utf8'))`):
 * the same MAC, without importing the key again per request.
 */
export function signUpstreamRequest(
  secret: string | KeyObject,
  fields: UpstreamSignedFields,
  nowSeconds: number,
): string {
  const t = Math.floor(nowSeconds);
  const mac = createHmac('sha256', secret)
    .update(upstreamSigningString(fields, t), 'utf8')
    .digest('base64url');
  return `t=${t},v1=${mac}`;
}
