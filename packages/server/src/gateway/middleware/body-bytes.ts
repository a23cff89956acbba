/** The bytes an idempotency fingerprint covers: a raw body as is, a parsed one as its JSON. */
export function bodyBytes(body: unknown): Buffer | string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  return JSON.stringify(body);
}
