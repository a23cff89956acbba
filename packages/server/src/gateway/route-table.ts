import type { GatewayRouteConfig } from './gateway-config.js';

/** A configured route, compiled once for matching. */
export interface GatewayRoute {
  method: string;
  /** literal segments; `:name` matches one segment; a trailing `*` matches the rest (even nothing) */
  segments: readonly string[];
  wildcard: boolean;
  scope: string | undefined;
  public: boolean;
  modes: readonly ('test' | 'live')[] | undefined;
}

export function compileRoutes(routes: readonly GatewayRouteConfig[]): GatewayRoute[] {
  return routes.map((r) => {
    // literal segments compare without case: an upstream that routes without case (Express by
    // default) must not reach a configured route's resource under another spelling
    const parts = r.path
      .split('/')
      .slice(1)
      .map((part) => (part.charCodeAt(0) === 58 /* : */ ? part : part.toLowerCase()));
    const wildcard = parts[parts.length - 1] === '*';
    if (wildcard) parts.pop();
    if (parts[parts.length - 1] === '') parts.pop();
    return { method: r.method, segments: parts, wildcard, scope: r.scope, public: r.public, modes: r.modes };
  });
}

/**
 * What a path whose route cannot be told (see `matchRoute`) is held to, as it may be any
 * configured route: not public, the `*` scope, and only the modes every mode-limited route allows.
 */
function unclearRoute(routes: readonly GatewayRoute[]): GatewayRoute {
  let modes: readonly ('test' | 'live')[] | undefined;
  for (const route of routes) {
    if (route.modes === undefined) continue;
    modes = modes === undefined ? route.modes : modes.filter((mode) => route.modes?.includes(mode));
  }
  return { method: '*', segments: [], wildcard: true, scope: '*', public: false, modes };
}

/**
 * The first route matching `method` and `path` (no query string), or null. Segments are
 * compared percent-decoded and, for literal ones, without case, as the upstream may read them.
 * A path that an upstream might resolve differently than we split it (dot segments, empty
 * segments, encoded slashes, back slashes, `;` parameters, `#`, double encoding, control
 * characters) could be any route: while routes are configured, it gets a route that is not
 * public, needs the `*` scope and allows only the modes every mode-limited route allows.
 */
export function matchRoute(
  routes: readonly GatewayRoute[],
  method: string,
  path: string,
): GatewayRoute | null {
  if (routes.length === 0) return null;
  const segments = cleanSegments(path);
  if (segments === null) return unclearRoute(routes);
  for (const route of routes) {
    if (route.method !== '*' && route.method !== method && !(route.method === 'GET' && method === 'HEAD'))
      continue;
    if (matches(route, segments)) return route;
  }
  return null;
}

function matches(route: GatewayRoute, segments: readonly string[]): boolean {
  const pattern = route.segments;
  if (route.wildcard ? segments.length < pattern.length : segments.length !== pattern.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    if (p.charCodeAt(0) === 58 /* : */) continue;
    if (p !== (segments[i] as string).toLowerCase()) return false;
  }
  return true;
}

/** characters that make a decoded segment mean different things to different servers */
const SUSPICIOUS = /[%\\;#/]/;

/**
 * The path's segments, percent-decoded, or null when the path is anything but plain segments
 * (after decoding: no empty, `.` or `..` segment, no slash, back slash, `;`, `#`, `%` left
 * over from double encoding, or control character).
 */
export function cleanSegments(path: string): string[] | null {
  if (path.charCodeAt(0) !== 47 /* / */) return null;
  const parts = path.split('/');
  parts.shift();
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // a trailing slash
  for (let n = 0; n < parts.length; n++) {
    let p = parts[n] as string;
    if (p.includes('%')) {
      try {
        p = decodeURIComponent(p);
      } catch {
        return null;
      }
      parts[n] = p;
    }
    if (p === '' || p === '.' || p === '..' || SUSPICIOUS.test(p)) return null;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      if (c < 0x21 || c === 0x7f) return null;
    }
  }
  return parts;
}
