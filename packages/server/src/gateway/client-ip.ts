import { compileAllowlist } from '@gatehouse/core';

/**
 * Resolves the client's address. X-Forwarded-For is believed only when the socket peer is a
 * trusted proxy, and then only as far as the chain stays trusted: walking from the right, the
 * first hop that is not a trusted proxy is the client (anything left of it could be forged).
 */
export function createClientIpResolver(
  trustedProxies: readonly string[],
): (peer: string | null | undefined, forwardedFor: string | string[] | undefined) => string | null {
  const trusted = trustedProxies.length > 0 ? compileAllowlist(trustedProxies) : null;
  return (peer, forwardedFor) => {
    const socketIp = peer ? unmap(peer) : null;
    if (trusted === null || socketIp === null || forwardedFor === undefined || !trusted(socketIp))
      return socketIp;
    const chain = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
    const hops = chain.split(',');
    let client = socketIp;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmap(stripPort((hops[i] as string).trim()));
      if (hop === '') break;
      client = hop;
      if (!trusted(hop)) break;
    }
    return client;
  };
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so logs and allowlists see one spelling of an IPv4 client. */
function unmap(ip: string): string {
  return ip.length > 7 && ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** `[2001:db8::1]:443` → `2001:db8::1`, `203.0.113.9:1234` → `203.0.113.9`. */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    return end > 0 ? hop.slice(1, end) : hop;
  }
  const colon = hop.indexOf(':');
  return colon > 0 && colon === hop.lastIndexOf(':') ? hop.slice(0, colon) : hop;
}
