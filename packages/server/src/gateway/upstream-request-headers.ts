import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and what must never pass a gateway. */
const DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  // the gateway's own server already answered 100 Continue; undici refuses to send Expect
  'expect',
  'authorization',
  'request-id',
  // the client's address as the gateway resolved it replaces what the client claims
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
]);

/**
 * The headers sent upstream: the client's, without hop-by-hop headers, without
 * `Authorization`, and without ANY `Gatehouse-*` header a client sent (the upstream trusts
 * those names only from us), plus the identity headers and signature given. The client's
 * address goes in `X-Forwarded-For` and `X-Real-IP`, as the gateway resolved it (from the
 * socket, or from trusted proxies); a client's own `X-Real-IP` or `Forwarded` is dropped.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  identity: Record<string, string>,
  clientIp: string | null,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = incoming.connection;
  const listed =
    connection !== undefined && connection !== 'keep-alive' && connection !== 'close'
      ? connectionTokens(connection)
      : null;
  for (const name in incoming) {
    if (DROP.has(name) || name.startsWith('gatehouse-') || listed?.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }
  for (const name in identity) out[name] = identity[name] as string;
  if (clientIp !== null) {
    out['x-forwarded-for'] = clientIp;
    out['x-real-ip'] = clientIp;
  }
  return out;
}

/** Headers named in Connection are hop-by-hop too. */
function connectionTokens(value: string): Set<string> {
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()));
}

/** Hop-by-hop response headers: never passed on to the client (nor kept for a replay). */
export const HOP_BY_HOP_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'trailer',
  'upgrade',
  'te',
]);

/** The upstream's response headers without hop-by-hop ones (those its Connection names too), plus the gateway's. */
export function downstreamResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  requestId: string,
  gateway: Record<string, string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = upstream['connection'];
  const listed =
    typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close'
      ? connectionTokens(connection)
      : null;
  for (const name in upstream) {
    if (HOP_BY_HOP_RESPONSE_HEADERS.has(name) || listed?.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  for (const name in gateway) out[name] = gateway[name] as string;
  out['request-id'] = requestId;
  return out;
}

/**
 * The headers sent upstream for an HTTP Upgrade (WebSocket handshake): as
 * `upstreamRequestHeaders`, but `Upgrade` and `Connection: Upgrade` are forwarded, since the
 * upstream must see them to switch protocols.
 */
export function upstreamUpgradeRequestHeaders(
  incoming: IncomingHttpHeaders,
  identity: Record<string, string>,
  clientIp: string | null,
): Record<string, string | string[]> {
  const out = upstreamRequestHeaders(incoming, identity, clientIp);
  if (incoming.upgrade !== undefined) {
    out['connection'] = 'Upgrade';
    out['upgrade'] = incoming.upgrade;
  }
  return out;
}
